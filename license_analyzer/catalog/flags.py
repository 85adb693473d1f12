"""Per-SKU flags: free, company-level capacity, attach (they change what counts as waste)."""

from __future__ import annotations

import polars as pl

FREE_PART_NUMBERS = frozenset({
    "FLOW_FREE", "POWERAPPS_VIRAL", "POWERAPPS_DEV", "POWER_BI_STANDARD", "TEAMS_FREE",
    "SMB_APPS", "TEAMS_EXPLORATORY", "STREAM", "CCIBOTS_PRIVPREV_VIRAL", "FORMS_PRO",
    "MCOPSTNEAU2", "SPZA_IW", "RIGHTSMANAGEMENT_ADHOC", "WINDOWS_STORE",
})
# free: *_FREE, trials (TRIAL, vTrial, VIRAL) and the self-service "_IW" information-worker trials
FREE_PATTERN = r"(?i)(^|_)(FREE|TRIAL|VTRIAL|VIRAL|VIRAL_TRIAL)($|_)|_IW$|TRIAL$"
FREE_NAME_PATTERN = r"(?i)\b(trial|vtrial|free)\b"
CAPACITY_PATTERN = (r"(?i)CAPACITY|STORAGE|PAGEVIEW|PORTALS_LOGIN|capacity_pack"
                    r"|ADDITIONAL_ENVIRONMENT|ADD_ENV|CUSTOMER_VOICE_ADDON|Forms_Pro_AddOn")
ATTACH_PATTERN = r"(?i)attach"


def is_free(part_number: str = "sku_part_number", product_name: str = "product_name") -> pl.Expr:
    part = pl.col(part_number).fill_null("")
    return (part.str.to_uppercase().is_in(list(FREE_PART_NUMBERS))
            | part.str.contains(FREE_PATTERN)
            | pl.col(product_name).fill_null("").str.contains(FREE_NAME_PATTERN))


def is_capacity(part_number: str = "sku_part_number", applies_to: str = "applies_to") -> pl.Expr:
    """Company-level SKUs (appliesTo Company) and capacity packs: bought for the tenant, never
    assigned to a person, so never waste."""
    return ((pl.col(applies_to).fill_null("User").str.to_lowercase() == "company")
            | pl.col(part_number).fill_null("").str.contains(CAPACITY_PATTERN))


def is_attach(part_number: str = "sku_part_number", product_name: str = "product_name") -> pl.Expr:
    """"Attach to Qualifying Base Offer" SKUs: never to be stranded without their base."""
    return (pl.col(part_number).fill_null("").str.contains(ATTACH_PATTERN)
            | pl.col(product_name).fill_null("").str.contains(ATTACH_PATTERN))
