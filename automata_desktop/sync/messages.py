"""What to tell the user about signing up and in: plain text, importable without the Supabase
client (the account dialog shows these before any network call, and start-up should not pay
for importing supabase)."""

from __future__ import annotations


def confirmation_sent(email: str, then: str = "sign in here") -> str:
    """What to tell the user after a sign-up that needs the address confirmed."""
    return (f"Account created. Open the link Supabase sent to {email}, then {then}. The link "
            "ends on your project's Site URL (Supabase dashboard → Authentication → URL "
            "Configuration; http://localhost:3000 unless you changed it): if that page cannot "
            "be reached, the account is confirmed all the same.")


def already_registered(email: str) -> str:
    return (f"{email} already has an account: sign in instead (or reset the password if you "
            "forgot it)")


def not_authorized(email: str) -> str:
    return (f"Supabase did not send the confirmation email to {email}: the project's built-in "
            "mailer only writes to members of the project's team. In the Supabase dashboard "
            "set up your own SMTP server (Authentication → Emails → SMTP Settings), or add "
            f"{email} to the team, then sign up again")


def not_confirmed(email: str) -> str:
    return (f"Confirm your email first: open the link Supabase sent to {email}, then sign in "
            "(the link ends on the project's Site URL, which may say the page cannot be "
            "reached: the address is confirmed all the same). No email? Sign up again with "
            "the same address to have it sent again")
