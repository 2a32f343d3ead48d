"""A factory's tasks (api-contract.md "Factories with several tasks")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import AmountStringField, amount_str
from core.exceptions import NotFound

from ..access import access_factory
from ..models import FactoryTask
from ..services.factory_tasks import factory_task_add, factory_task_remove
from .factories import _bounded_integer


class FactoryTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    title = serializers.CharField()
    instructions = serializers.CharField()
    success_checks = serializers.JSONField(allow_null=True)
    expected_minutes = serializers.IntegerField()
    reward = serializers.SerializerMethodField()
    per_farmer_limit = serializers.IntegerField(allow_null=True)
    per_farmer_daily_limit = serializers.IntegerField(allow_null=True)

    def get_reward(self, task) -> str:
        return amount_str(task.reward, task.factory.token)


class FactoryTaskListApi(APIView):
    """GET: the tasks of a factory the caller may see; POST (its creator): add one."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FactoryTaskInput"

        title = serializers.CharField(max_length=200)
        instructions = serializers.CharField(max_length=20_000)
        reward = AmountStringField(max_length=64)
        expected_minutes = _bounded_integer("expected_minutes")
        success_checks = serializers.JSONField(required=False, allow_null=True)
        per_farmer_limit = _bounded_integer("per_farmer_limit", allow_null=True)
        per_farmer_daily_limit = _bounded_integer("per_farmer_daily_limit", allow_null=True)

    @extend_schema(responses=FactoryTaskSerializer(many=True))
    def get(self, request, pk: int):
        factory = access_factory(request.user, pk, need="view")
        tasks = FactoryTask.objects.filter(factory=factory).select_related("factory__token")
        return Response(FactoryTaskSerializer(tasks, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: FactoryTaskSerializer})
    def post(self, request, pk: int):
        factory = access_factory(request.user, pk, need="owner")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = factory_task_add(factory=factory, actor=request.user, **data.validated_data)
        return Response(FactoryTaskSerializer(task).data, status=status.HTTP_201_CREATED)


class FactoryTaskDetailApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int, task_id: int):
        factory = access_factory(request.user, pk, need="owner")
        task = FactoryTask.objects.filter(factory=factory, pk=task_id).first()
        if task is None:
            raise NotFound("No such task.")
        factory_task_remove(task=task, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
