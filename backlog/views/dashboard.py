from django.http import HttpResponse


def dashboard(request):  # placeholder until the dashboard lands
    return HttpResponse("Triage Desk")
