from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("otp/enrol/", views.otp_enrol, name="otp_enrol"),
    path("otp/codes/", views.otp_codes, name="otp_codes"),
    path("otp/verify/", views.otp_verify, name="otp_verify"),
    path("security/", views.security, name="security"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path(
        "users/<int:pk>/<slug:action>/",
        views.user_action,
        name="user_action",
    ),
]
