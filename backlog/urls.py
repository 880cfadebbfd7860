from django.urls import path

from .views import dashboard, entries, exports, imports

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("entries/<int:pk>/", entries.entry_detail, name="entry-detail"),
    path("entries/<int:pk>/decide/", entries.entry_decide_view, name="entry-decide"),
    path("entries/<int:pk>/status/", entries.entry_status_view, name="entry-status"),
    path("imports/", imports.import_upload, name="import-upload"),
    path("export.csv", exports.export_csv, name="export-csv"),
]
