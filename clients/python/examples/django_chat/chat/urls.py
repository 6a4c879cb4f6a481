from django.urls import path

from . import views

urlpatterns = [
    path("api/chatbot/send_message/", views.send_message),
    path("api/chatbot/send_message_async/", views.send_message_async),
    # Where the seed had its pre-check: the session's pk is the chat id.
    path("api/chatbot/sessions/<int:pk>/validate_message/", views.validate_message),
]
