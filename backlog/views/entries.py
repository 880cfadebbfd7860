from django.http import HttpResponse


def entry_detail(request, pk):  # placeholder
    return HttpResponse(str(pk))


def entry_decide_view(request, pk):  # placeholder
    return HttpResponse(str(pk))
