"""The engine's registries, described so that clients can build forms from them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workers.engine.model_specs import MODELS
from workers.engine.params import PARAM_TYPES
from workers.engine.recipe import RECIPE_SCHEMA
from workers.engine.strategies import DYNAMIC, STATIC, STRATEGIES, WEIGHTED


class ParamOutputSerializer(serializers.Serializer):
    """One declared parameter; range and choice keys appear only when declared."""

    name = serializers.CharField()
    type = serializers.ChoiceField(choices=PARAM_TYPES)
    default = serializers.JSONField(allow_null=True)
    help = serializers.CharField()
    minimum = serializers.FloatField(required=False)
    exclusive_minimum = serializers.BooleanField(required=False)
    maximum = serializers.FloatField(required=False)
    choices = serializers.ListField(child=serializers.CharField(), required=False)
    nullable = serializers.BooleanField(required=False)


class PaperOutputSerializer(serializers.Serializer):
    title = serializers.CharField()
    authors = serializers.CharField(help_text='The citation\'s authors, e.g. "Okanovic et al.".')
    year = serializers.IntegerField()
    url = serializers.CharField(allow_blank=True, help_text="arXiv or proceedings page; empty when none is known.")


class StrategyOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    family = serializers.ChoiceField(choices=[STATIC, DYNAMIC, WEIGHTED])
    title = serializers.CharField()
    description = serializers.CharField()
    uses_budget = serializers.BooleanField(help_text="False when the strategy always trains at r = 1.")
    params = ParamOutputSerializer(many=True)
    paper = PaperOutputSerializer(
        allow_null=True, help_text="What the strategy reproduces; null for full-data controls."
    )


class ModelOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    inputs = serializers.ListField(
        child=serializers.CharField(), help_text="Input kinds the model accepts: features, sequence or image."
    )


class StrategyListApi(APIView):
    @extend_schema(responses={200: StrategyOutputSerializer(many=True)}, summary="Sampling strategies and parameters")
    def get(self, request: Request) -> Response:
        described = [strategy.describe() for strategy in STRATEGIES.values()]
        return Response(StrategyOutputSerializer(described, many=True).data)


class ModelListApi(APIView):
    @extend_schema(responses={200: ModelOutputSerializer(many=True)}, summary="Model architectures")
    def get(self, request: Request) -> Response:
        return Response(ModelOutputSerializer(MODELS.values(), many=True).data)


class RecipeSchemaApi(APIView):
    @extend_schema(responses={200: ParamOutputSerializer(many=True)}, summary="Training recipe fields and defaults")
    def get(self, request: Request) -> Response:
        described = [param.describe() for param in RECIPE_SCHEMA]
        return Response(ParamOutputSerializer(described, many=True).data)
