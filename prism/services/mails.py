"""The mails of signing up: a link that creates the account, or a notice to the owner of an address already in use."""

from datetime import timedelta

from prism.auth.mailer import Message

__all__ = ["SIGN_UP_LIFETIME", "account_exists_message", "sign_up_message", "verification_message"]

SIGN_UP_LIFETIME = timedelta(hours=24)


def sign_up_message(link: str, to: str, name: str, token: str) -> Message:
    """The confirmation a new address gets: the account exists once the link is opened."""
    return Message(
        to=to,
        subject="Confirm your email address for PRISM",
        body=(
            f"Hello {name},\n\nConfirm your email address within 24 hours to create your PRISM account:\n{link}\n\n"
            f"Or use this code with the verifyEmail mutation: {token}\n\nThen log in with your password. If you did "
            "not sign up, ignore this message: no account is created.\n"
        ),
    )


def account_exists_message(to: str, reset_link: str) -> Message:
    """What the owner of an address gets when someone signs up with it again: no link that does anything."""
    return Message(
        to=to,
        subject="Someone tried to sign up for PRISM with your address",
        body=(
            "Hello,\n\nSomeone (hopefully you) tried to sign up for PRISM with this address, which has an account "
            "already, so nothing was changed. To get in, log in; if you forgot your password, reset it at "
            f"{reset_link}.\n\nIf it was not you, ignore this message.\n"
        ),
    )


def verification_message(link: str, to: str, name: str, token: str) -> Message:
    """The link an account an operator created gets, to prove its address."""
    return Message(
        to=to,
        subject="Confirm your email address for PRISM",
        body=(
            f"Hello {name},\n\nAn administrator created a PRISM account for this address. Confirm it within 24 hours:"
            f"\n{link}\n\nOr use this code with the verifyEmail mutation: {token}\n\nIf you expected no account, "
            "tell your administrator.\n"
        ),
    )
