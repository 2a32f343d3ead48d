"""The pools API (api-contract.md), one module per resource: factories (and tokens), deposits,
claims, submissions, attachments. forge/api_urls.py routes to the views re-exported here."""

from .attachments import DatasetAttachmentSerializer, SubmissionAttachmentApi, attachment_file_response
from .claims import ClaimCreateApi
from .deposits import DepositConfirmApi, DepositCreateApi, FactoryFundFromBalanceApi
from .factories import (
    FactoryCloseApi,
    FactoryDetailApi,
    FactoryListCreateApi,
    FactoryPauseApi,
    FactoryRateApi,
    FactoryResumeApi,
    TokenListApi,
)
from .submissions import SubmissionCreateApi, SubmissionDetailApi, SubmissionListApi, SubmissionReviewApi

__all__ = [
    "ClaimCreateApi",
    "DatasetAttachmentSerializer",
    "DepositConfirmApi",
    "DepositCreateApi",
    "FactoryCloseApi",
    "FactoryDetailApi",
    "FactoryFundFromBalanceApi",
    "FactoryListCreateApi",
    "FactoryPauseApi",
    "FactoryRateApi",
    "FactoryResumeApi",
    "SubmissionAttachmentApi",
    "SubmissionCreateApi",
    "SubmissionDetailApi",
    "SubmissionListApi",
    "SubmissionReviewApi",
    "TokenListApi",
    "attachment_file_response",
]
