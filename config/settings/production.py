"""Settings for production: every secret and endpoint must come from the environment."""

from config.env import require

from .base import *  # noqa: F401,F403
from .base import env

SECRET_KEY = require("SECRET_KEY")
require("DATABASE_URL")
require("REDIS_URL")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[]) or [require("ALLOWED_HOSTS")]
require("EMAIL_URL")
DEBUG = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
