from django.urls import path

from generations.prompts import views

urlpatterns = [
    path("", views.template_list, name="template_list"),
    path("new/", views.template_new, name="template_new"),
    path("history/", views.prompt_history, name="prompt_history"),
    path("<int:template_id>/use/", views.template_use, name="template_use"),
    path("<int:template_id>/edit/", views.template_edit, name="template_edit"),
    path("<int:template_id>/delete/", views.template_delete, name="template_delete"),
]
