"""Amounts as an asset manager reads them: the currency's symbol, thousands separators."""

from __future__ import annotations

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "AUD": "A$",
            "CAD": "C$", "CHF": "CHF ", "SEK": "SEK ", "NOK": "NOK ", "DKK": "DKK "}


def currency_prefix(currency: str) -> str:
    return _SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def money(value: float | None, currency: str, decimals: int = 0) -> str:
    if value is None:
        return "—"
    symbol = currency_prefix(currency)
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.{decimals}f}"
