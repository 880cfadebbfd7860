from django.http import HttpResponse


def export_csv(request):  # placeholder
    return HttpResponse("")
