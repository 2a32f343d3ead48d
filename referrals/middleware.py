"""Remember a referral code from `/r/<code>` or `?ref=<code>` for the signup that follows."""

SESSION_KEY = "referral_code"


class ReferralCodeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        code = request.GET.get("ref")
        if code and hasattr(request, "session") and len(code) <= 32:
            request.session[SESSION_KEY] = code.strip().upper()
        return self.get_response(request)
