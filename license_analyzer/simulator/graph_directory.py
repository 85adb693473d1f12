"""Graph tenant-level reads: organization, subscribedSkus, directory subscriptions, apps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .generate import effective_sku_ids
from .graph_delegated import DIRECTORY_READERS
from .graph_query import parse_select
from .odata import ODataError, dict_getter, parse_filter
from .odata import evaluate as odata_evaluate
from .wire import Response

if TYPE_CHECKING:
    from .graph import GraphContext

READ_ORG = (
    "Organization.Read.All",
    "Directory.Read.All",
    "Organization.ReadWrite.All",
    "Directory.ReadWrite.All",
)
AAD_PREMIUM_PLAN = "41781fb2-bc02-4b7c-bd55-b576c07bb09d"


def _project(items: list[dict[str, Any]], fields: list[str] | None) -> list[dict[str, Any]]:
    if not fields:
        return items
    return [{k: v for k, v in item.items() if k in fields} for item in items]


def _select(
    ctx: GraphContext, entity: str, items: list[dict[str, Any]]
) -> Response | list[dict[str, Any]]:
    if not ctx.req.query.get("$select"):
        return items
    known = set(items[0]) if items else {"id"}
    fields = parse_select(ctx, entity, known, [])
    if isinstance(fields, Response):
        return fields
    return _project(items, fields)


def organization(ctx: GraphContext) -> Response:
    denied = ctx.require(*READ_ORG, "User.Read.All")
    if denied:
        return denied
    tenant = ctx.cloud.tenant
    plans = []
    for pool in tenant.pools:
        for name, plan_id in pool.sku.service_plans:
            if plan_id == AAD_PREMIUM_PLAN and not tenant.has_p1:
                continue
            # the plan's status follows its subscription: Warning while in the grace period
            # (https://learn.microsoft.com/graph/api/resources/assignedplan)
            plans.append(
                {
                    "assignedDateTime": tenant.created_at,
                    "capabilityStatus": pool.capability_status,
                    "service": name,
                    "servicePlanId": plan_id,
                }
            )
    org = {
        "id": tenant.id,
        "deletedDateTime": None,
        "businessPhones": ["+1 425 555 0100"],
        "city": "Redmond",
        "country": None,
        "countryLetterCode": "US",
        "createdDateTime": tenant.created_at,
        "defaultUsageLocation": "US",
        "displayName": tenant.display_name,
        "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": tenant.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "onPremisesSyncEnabled": True,
        "postalCode": "98052",
        "preferredLanguage": "en",
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": "WA",
        "street": "1 Contoso Way",
        "technicalNotificationMails": [],
        "tenantType": "AAD",
        "assignedPlans": plans,
        "provisionedPlans": [],
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": True,
                "isInitial": False,
                "name": tenant.domain,
                "type": "Managed",
            },
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": False,
                "isInitial": True,
                "name": tenant.initial_domain,
                "type": "Managed",
            },
        ],
    }
    value = _select(ctx, "organization", [org])
    if isinstance(value, Response):
        return value
    return ctx.ok({"@odata.context": ctx.context("organization"), "value": value})


def consumed_units(ctx: GraphContext) -> dict[str, int]:
    tenant = ctx.cloud.tenant
    key = ("consumed", tenant.version)
    with ctx.cloud.cache_lock:
        hit = ctx.cloud.cache.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    counts: dict[str, int] = {}
    for u in tenant.users:
        for sku_id in effective_sku_ids(tenant, u):
            counts[sku_id] = counts.get(sku_id, 0) + 1
    with ctx.cloud.cache_lock:
        ctx.cloud.cache[key] = counts
    return counts


def subscribed_skus(ctx: GraphContext) -> Response:
    denied = ctx.require(*READ_ORG, roles=DIRECTORY_READERS)
    if denied:
        return denied
    tenant = ctx.cloud.tenant
    used = consumed_units(ctx)
    items = []
    for pool in tenant.pools:
        sku = pool.sku
        items.append(
            {
                "accountName": "Contoso",
                "accountId": tenant.id,
                "appliesTo": sku.applies_to,
                "capabilityStatus": pool.capability_status,
                "consumedUnits": used.get(sku.sku_id, 0),
                "id": f"{tenant.id}_{sku.sku_id}",
                "skuId": sku.sku_id,
                "skuPartNumber": sku.part_number,
                "subscriptionIds": list(pool.subscription_ids),
                "prepaidUnits": {
                    "enabled": pool.enabled,
                    "suspended": pool.suspended,
                    "warning": pool.warning,
                    "lockedOut": pool.locked_out,
                },
                "servicePlans": [
                    {
                        "servicePlanId": pid,
                        "servicePlanName": name,
                        "provisioningStatus": "Success",
                        "appliesTo": sku.applies_to,
                    }
                    for name, pid in sku.service_plans
                ],
            }
        )
    value = _select(ctx, "subscribedSku", items)
    if isinstance(value, Response):
        return value
    return ctx.ok({"@odata.context": ctx.context("subscribedSkus"), "value": value})


def subscriptions(ctx: GraphContext) -> Response:
    denied = ctx.require(*READ_ORG, roles=DIRECTORY_READERS)
    if denied:
        return denied
    items = []
    for s in ctx.cloud.tenant.subscriptions:
        items.append(
            {
                "id": s.id,
                "commerceSubscriptionId": s.commerce_id,
                "createdDateTime": s.created,
                "isTrial": s.is_trial,
                "nextLifecycleDateTime": s.next_lifecycle,
                "ownerId": None,
                "ownerTenantId": None,
                "ownerType": None,
                "skuId": s.sku.sku_id,
                "skuPartNumber": s.sku.part_number,
                "status": s.status,
                "totalLicenses": s.total,
                "serviceStatus": [
                    {
                        "servicePlanId": pid,
                        "servicePlanName": name,
                        "provisioningStatus": "Success",
                        "appliesTo": s.sku.applies_to,
                    }
                    for name, pid in s.sku.service_plans
                ],
            }
        )
    value = _select(ctx, "companySubscription", items)
    if isinstance(value, Response):
        return value
    return ctx.ok({"@odata.context": ctx.context("directory/subscriptions"), "value": value})


def applications(ctx: GraphContext) -> Response:
    denied = ctx.require("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All")
    if denied:
        return denied
    app = ctx.cloud.tenant.app
    start = ctx.cloud.tenant.now.replace(year=ctx.cloud.tenant.now.year - 1).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    keys = []
    seen: set[int] = set()
    for cert in app.certificates.values():
        if id(cert) in seen:
            continue
        seen.add(id(cert))
        keys.append(
            {
                "customKeyIdentifier": cert.fingerprint(
                    __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA1"]).SHA1()
                )
                .hex()
                .upper(),
                "displayName": "CN=license-analyzer",
                "endDateTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "keyId": f"{cert.serial_number:032x}"[:32],
                "startDateTime": start,
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": None,
            }
        )
    item = {
        "id": app.app_object_id,
        "appId": app.client_id,
        "displayName": app.display_name,
        "createdDateTime": start,
        "signInAudience": "AzureADMyOrg",
        "passwordCredentials": [
            {
                "customKeyIdentifier": None,
                "displayName": "license-analyzer",
                "endDateTime": app.secret_expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "hint": app.client_secret[:3],
                "keyId": app.secret_id,
                "secretText": None,
                "startDateTime": start,
            }
        ],
        "keyCredentials": keys,
    }
    items = [item]
    flt = ctx.req.query.get("$filter")
    if flt:
        try:
            node = parse_filter(flt)
            items = [i for i in items if odata_evaluate(node, dict_getter(i))]
        except ODataError as exc:
            return ctx.error(400, "BadRequest", f"Invalid filter clause: {exc}")
    value = _select(ctx, "application", items)
    if isinstance(value, Response):
        return value
    return ctx.ok({"@odata.context": ctx.context("applications"), "value": value})
