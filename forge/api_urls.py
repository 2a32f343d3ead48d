"""/api/v1/: every endpoint of the API contract, in the contract's order."""

from django.urls import path

from accounts import apis as accounts
from chain import apis as chain
from datasets import apis as datasets
from evidence import apis as evidence
from ledger import apis as ledger
from notifications import apis as notifications
from pools import apis as pools
from receipts import apis as receipts
from referrals import apis as referrals
from reviews import apis as reviews
from web import apis as web

urlpatterns = [
    path("auth/register/", web.RegisterApi.as_view(), name="register"),
    path("auth/token/", accounts.TokenApi.as_view(), name="token"),
    path("auth/token/rotate/", accounts.TokenRotateApi.as_view(), name="token-rotate"),
    path("auth/token/revoke/", accounts.TokenRevokeApi.as_view(), name="token-revoke"),
    path("me/", web.MeApi.as_view(), name="me"),
    path("me/balances/", accounts.BalancesApi.as_view(), name="balances"),
    path("me/withdrawals/", accounts.WithdrawalListCreateApi.as_view(), name="withdrawals"),
    path("tokens/", pools.TokenListApi.as_view(), name="tokens"),
    path("factories/", pools.FactoryListCreateApi.as_view(), name="factories"),
    path("factories/<int:pk>/", pools.FactoryDetailApi.as_view(), name="factory"),
    path("factories/<int:pk>/deposits/", pools.DepositCreateApi.as_view(), name="factory-deposits"),
    path(
        "factories/<int:pk>/fund-from-balance/",
        pools.FactoryFundFromBalanceApi.as_view(),
        name="factory-fund-from-balance",
    ),
    path("factories/<int:pk>/rate/", pools.FactoryRateApi.as_view(), name="factory-rate"),
    path("factories/<int:pk>/claims/", pools.ClaimCreateApi.as_view(), name="factory-claims"),
    path("factories/<int:pk>/pause/", pools.FactoryPauseApi.as_view(), name="factory-pause"),
    path("factories/<int:pk>/resume/", pools.FactoryResumeApi.as_view(), name="factory-resume"),
    path("factories/<int:pk>/close/", pools.FactoryCloseApi.as_view(), name="factory-close"),
    path("deposits/<int:pk>/confirm/", pools.DepositConfirmApi.as_view(), name="deposit-confirm"),
    path("claims/<int:pk>/submission/", pools.SubmissionCreateApi.as_view(), name="claim-submission"),
    path("claims/<int:pk>/recording/", evidence.ClaimRecordingApi.as_view(), name="claim-recording"),
    path("uploads/", evidence.UploadCreateApi.as_view(), name="uploads"),
    path("uploads/<uuid:upload_id>/", evidence.UploadDetailApi.as_view(), name="upload"),
    path("submissions/", pools.SubmissionListApi.as_view(), name="submissions"),
    path("submissions/<int:pk>/", pools.SubmissionDetailApi.as_view(), name="submission"),
    path("submissions/<int:pk>/review/", pools.SubmissionReviewApi.as_view(), name="submission-review"),
    path("submissions/<int:pk>/appeal/", reviews.SubmissionAppealApi.as_view(), name="submission-appeal"),
    path("appeals/<int:pk>/decision/", reviews.AppealDecisionApi.as_view(), name="appeal-decision"),
    path(
        "factories/<int:pk>/demonstrations/",
        datasets.FactoryDemonstrationListApi.as_view(),
        name="factory-demonstrations",
    ),
    path("factories/<int:pk>/exports/", datasets.FactoryExportListCreateApi.as_view(), name="factory-exports"),
    path("exports/<int:pk>/", datasets.ExportDetailApi.as_view(), name="export"),
    path("exports/<int:pk>/download/", datasets.ExportDownloadApi.as_view(), name="export-download"),
    path(
        "submissions/<int:pk>/attachments/<int:attachment_id>/",
        pools.SubmissionAttachmentApi.as_view(),
        name="submission-attachment",
    ),
    path("me/ambassador/", referrals.BecomeAmbassadorApi.as_view(), name="become-ambassador"),
    path("ambassadors/<str:code>/", referrals.AmbassadorTierApi.as_view(), name="ambassador"),
    path("ledger/audit/", ledger.AuditApi.as_view(), name="ledger-audit"),
    path("treasury/", ledger.TreasuryApi.as_view(), name="treasury"),
    path("wallets/", chain.WalletListLinkApi.as_view(), name="wallets"),
    path("wallets/nonce/", chain.WalletNonceApi.as_view(), name="wallet-nonce"),
    path("wallets/<int:pk>/", chain.WalletUnlinkApi.as_view(), name="wallet"),
    path(
        "factories/<int:pk>/chain-deposits/", chain.DepositIntentListCreateApi.as_view(), name="factory-chain-deposits"
    ),
    path("receipts/hours/", receipts.ReceiptHourListApi.as_view(), name="receipt-hours"),
    path("receipts/hours/<int:pk>/", receipts.ReceiptHourApi.as_view(), name="receipt-hour"),
    path("receipts/<int:submission_id>/", receipts.ReceiptApi.as_view(), name="receipt"),
    path("notifications/", notifications.NotificationListApi.as_view(), name="notifications"),
    path("notifications/read/", notifications.NotificationReadApi.as_view(), name="notifications-read"),
    path(
        "notifications/preferences/",
        notifications.NotificationPreferencesApi.as_view(),
        name="notification-preferences",
    ),
    path("webhooks/", notifications.WebhookEndpointListCreateApi.as_view(), name="webhooks"),
    path("webhooks/<int:pk>/", notifications.WebhookEndpointApi.as_view(), name="webhook"),
    path("webhooks/<int:pk>/test/", notifications.WebhookTestApi.as_view(), name="webhook-test"),
    path("webhooks/<int:pk>/deliveries/", notifications.WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
]
