from django.http import HttpResponse


def import_upload(request):  # placeholder
    return HttpResponse("")
