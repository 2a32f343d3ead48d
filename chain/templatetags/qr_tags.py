"""`{% deposit_qr intent pay_to %}`: an announced EVM deposit's EIP-681 payment request, as a
QR code (inline SVG) and a link a desktop wallet can open."""

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
