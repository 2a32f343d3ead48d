"""A creator's allow and block lists (api-contract.md "Farmer lists")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IsCreator

from ..selectors import farmer_list_of
from ..services.controls import NOTE_MAX, farmer_list_remove, farmer_list_set


class FarmerListEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="farmer.username")
    kind = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class FarmerListApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FarmerListInput"

        username = serializers.CharField(max_length=150)
        kind = serializers.ChoiceField(choices=["allow", "block"])
        note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True)

    @extend_schema(responses=FarmerListEntrySerializer(many=True))
    def get(self, request):
        return Response(FarmerListEntrySerializer(farmer_list_of(request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: FarmerListEntrySerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = farmer_list_set(creator=request.user, **data.validated_data)
        return Response(FarmerListEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class FarmerListEntryApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        farmer_list_remove(creator=request.user, entry_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
