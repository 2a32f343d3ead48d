"""The pools API (api-contract.md), one module per resource: factories (and tokens), deposits,
claims, submissions, attachments. forge/api_urls.py routes to the views re-exported here."""

from .attachments import DatasetAttachmentSerializer, SubmissionAttachmentApi, attachment_file_response
from .claims import ClaimCreateApi
from .controls import FarmerListApi, FarmerListEntryApi, FlagDecisionApi, SubmissionBonusApi, SubmissionFlagApi
from .deposits import DepositConfirmApi, DepositCreateApi, FactoryFundFromBalanceApi
from .dry_run import FactoryDryRunApi
from .factories import (
    FactoryCloseApi,
    FactoryDetailApi,
    FactoryListCreateApi,
    FactoryPauseApi,
    FactoryRateApi,
    FactoryResumeApi,
    TokenListApi,
)
from .factory_tasks import FactoryTaskDetailApi, FactoryTaskListApi
from .submissions import SubmissionCreateApi, SubmissionDetailApi, SubmissionListApi, SubmissionReviewApi

__all__ = [
    "ClaimCreateApi",
    "DatasetAttachmentSerializer",
    "DepositConfirmApi",
    "DepositCreateApi",
    "FactoryCloseApi",
    "FactoryDetailApi",
    "FactoryDryRunApi",
    "FactoryFundFromBalanceApi",
    "FactoryListCreateApi",
    "FactoryPauseApi",
    "FactoryRateApi",
    "FactoryResumeApi",
    "FactoryTaskDetailApi",
    "FactoryTaskListApi",
    "FarmerListApi",
    "FarmerListEntryApi",
    "FlagDecisionApi",
    "SubmissionAttachmentApi",
    "SubmissionBonusApi",
    "SubmissionCreateApi",
    "SubmissionDetailApi",
    "SubmissionFlagApi",
    "SubmissionListApi",
    "SubmissionReviewApi",
    "TokenListApi",
    "attachment_file_response",
]
