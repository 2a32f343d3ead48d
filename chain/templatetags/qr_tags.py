"""`{% deposit_qr intent pay_to %}`: an announced EVM deposit's EIP-681 payment request, as a
QR code (inline SVG) and a link a desktop wallet can open; `{% payment_qr uri intent %}` the
same for a Solana Pay request (its URL built by chain.services.solana.solana_pay_url)."""

from django import template
from django.utils.safestring import mark_safe

from ..qr import eip681_uri, qr_svg

register = template.Library()


@register.inclusion_tag("chain/_deposit_qr.html")
def deposit_qr(intent, pay_to):
    uri = eip681_uri(
        chain_id=pay_to["chain_id"], treasury=pay_to["treasury"], contract=pay_to["contract"], units=int(intent.amount)
    )
    # segno draws the SVG (modules as one path; the title is ours and escaped by segno); the URI
    # is built from digits and checksummed hex only: nothing user-typed reaches the markup.
    svg = mark_safe(qr_svg(uri, title="Payment request for this deposit"))  # noqa: S308 - see above
    return {"uri": uri, "svg": svg, "intent": intent}


@register.inclusion_tag("chain/_deposit_qr.html")
def payment_qr(uri: str, intent):
    # The Solana Pay URL is built by the chain app from base58 keys and an exact amount; segno
    # escapes the title; the URI itself is only drawn as modules, and escaped in the link.
    svg = mark_safe(qr_svg(uri, title="Payment request for this deposit"))  # noqa: S308 - see above
    return {"uri": uri, "svg": svg, "intent": intent}
