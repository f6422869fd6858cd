"""Page forms: they parse what a person types; the services decide what is allowed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import Q

from backend.datasets.models import Dataset, DatasetStatus
from backend.errors import ApplicationError
from backend.experiments.models import Experiment, Queue
from backend.policies.models import SamplingPolicy
from backend.teams.models import Role, Team
from workers.engine.errors import ConfigError
from workers.engine.model_specs import MODELS
from workers.engine.params import Param
from workers.engine.recipe import RECIPE_SCHEMA
from workers.engine.strategies import DYNAMIC, STATIC, STRATEGIES, WEIGHTED, Strategy

RECIPE_PARAMS = {param.name: param for param in RECIPE_SCHEMA}


def add_service_error(form: forms.Form, error: ApplicationError | ConfigError) -> None:
    """Show a service error next to the field it names (``recipe.lr`` is the ``lr`` field)."""
    field = (error.field or "").removeprefix("recipe.")
    message = error.message[:1].upper() + error.message[1:]
    if field in form.fields:
        form.add_error(field, message)
    else:
        form.add_error(None, f"{error.field}: {message}" if error.field else message)


class TeamCreateForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)


class MemberAddForm(forms.Form):
    user = forms.CharField(label="Username or email", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


def _decimal_list(text: str) -> list[Decimal]:
    parts = [part.strip().removesuffix("%").strip() for part in text.replace(";", ",").split(",")]
    numbers = []
    for part in parts:
        if not part:
            continue
        try:
            number = Decimal(part)
        except InvalidOperation:
            raise forms.ValidationError(f"{part!r} is not a number.") from None
        if not number.is_finite():
            raise forms.ValidationError(f"{part!r} is not a finite number.")
        numbers.append(number)
    if not numbers:
        raise forms.ValidationError("Give at least one value, separated by commas.")
    return numbers


def _number_input(name: str, *, step: str = "1") -> forms.NumberInput:
    param = RECIPE_PARAMS[name]
    attrs = {"step": step}
    if param.minimum is not None and not param.exclusive_minimum:
        attrs["min"] = f"{param.minimum:g}"
    if param.maximum is not None:
        attrs["max"] = f"{param.maximum:g}"
    return forms.NumberInput(attrs=attrs)


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=100)
    file = forms.FileField(
        help_text="An image-folder archive (.zip, .tar.gz) with train/<class>/ and test/<class>/ folders, "
        "an .npz with x_train, y_train, x_test and y_test, or a CSV table.",
        widget=forms.FileInput(attrs={"accept": ".zip,.tar.gz,.tgz,.npz,.csv"}),
    )
    label_column = forms.CharField(
        label="CSV label column", required=False, max_length=200, help_text='CSV only; "label" when left empty.'
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "upload": data["file"],
            "label_column": data["label_column"].strip() or None,
            "description": data["description"],
        }


def _budget_fractions(text: str) -> list[float]:
    budgets = []
    for number in _decimal_list(text):
        if not 0 < number <= 100:
            raise forms.ValidationError(f"Each budget must be a percentage above 0 and at most 100; got {number}.")
        # Decimal division keeps 10 % exactly equal to the fraction 0.1 an API client would send.
        budgets.append(float(number / 100))
    return budgets


def _whole_numbers(text: str) -> list[int]:
    seeds = []
    for number in _decimal_list(text):
        if number != number.to_integral_value():
            raise forms.ValidationError(f"Each seed must be a whole number; got {number}.")
        seeds.append(int(number))
    return seeds


def _percentages(fractions: list[float]) -> str:
    """Budgets as the form reads them: ``[0.1, 0.125]`` -> "10, 12.5"."""
    return ", ".join(f"{fraction * 100:.6g}" for fraction in fractions)


class PolicyChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: SamplingPolicy) -> str:
        strategy = STRATEGIES.get(obj.strategy)
        family = strategy.family if strategy else "unknown strategy"
        return f"{obj.name} · {family}"


def sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def param_bounds(param: Param) -> str:
    """The range a parameter accepts, in words ("0 to 0.9", "above 0, at most 10"), or "" if unbounded."""
    low, high = param.minimum, param.maximum
    if low is not None and high is not None and not param.exclusive_minimum:
        return f"{low:g} to {high:g}"
    parts = []
    if low is not None:
        parts.append(f"above {low:g}" if param.exclusive_minimum else f"at least {low:g}")
    if high is not None:
        parts.append(f"at most {high:g}")
    return ", ".join(parts)


def param_field(param: Param) -> forms.Field:
    """A form field for one declared parameter; its range and choices are the engine's to check.

    Only typing is checked here (a number must be a number); an empty box means
    null, which the engine accepts only where the parameter is nullable.
    """
    bounds = param_bounds(param)
    help_text = f"{param.help} ({bounds})" if bounds else param.help
    attrs: dict[str, str] = {}
    if param.type in ("int", "float"):
        attrs["step"] = "1" if param.type == "int" else "any"
        if param.minimum is not None and not param.exclusive_minimum:
            attrs["min"] = f"{param.minimum:g}"
        if param.maximum is not None:
            attrs["max"] = f"{param.maximum:g}"
        if param.nullable:
            attrs["placeholder"] = "default"
    options = {"label": param.name, "required": False, "initial": param.default, "help_text": help_text}
    if param.type == "int":
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **options)
    if param.type == "float":
        return forms.FloatField(widget=forms.NumberInput(attrs=attrs), **options)
    if param.type == "bool":
        return forms.NullBooleanField(**options) if param.nullable else forms.BooleanField(**options)
    if param.type == "choice":
        choices = [("", "default")] if param.nullable else []
        choices += [(choice, choice) for choice in param.choices]
        return forms.CharField(widget=forms.Select(choices=choices), **options)
    return forms.CharField(**options)


class PolicyParamsForm(forms.Form):
    """One strategy's parameters, a field per declared ``Param``, named apart by the strategy's key.

    ``params`` holds the values the engine accepted; every value it refuses is
    an error on its own field, all at once rather than the first only.
    """

    def __init__(self, *args: Any, strategy: Strategy, disabled: bool = False, **kwargs: Any):
        kwargs.setdefault("prefix", strategy.key)
        super().__init__(*args, **kwargs)
        self.strategy = strategy
        self.params: dict[str, Any] = {}
        for param in strategy.params:
            self.fields[param.name] = param_field(param)
            self.fields[param.name].disabled = disabled

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for param in self.strategy.params:
            if param.name not in cleaned:
                continue
            value = cleaned[param.name]
            if param.type == "choice" and value == "":
                value = None
            try:
                self.params[param.name] = param.coerce(value, f"params.{param.name}")
            except ConfigError as error:
                self.add_error(param.name, sentence(error.message))
        return cleaned


def strategy_params_forms(data: Any = None, *, chosen: str | None) -> dict[str, PolicyParamsForm]:
    """A parameters form for every strategy, by key; only the chosen strategy's reads ``data``."""
    return {
        key: PolicyParamsForm(data if key == chosen else None, strategy=strategy)
        for key, strategy in STRATEGIES.items()
    }


def add_policy_error(
    form: forms.Form, params_form: PolicyParamsForm | None, error: ApplicationError | ConfigError
) -> None:
    """Show a service error next to its field; ``params.<name>`` is a field of the parameters form."""
    name = (error.field or "").removeprefix("params.")
    if params_form is not None and (error.field or "").startswith("params.") and name in params_form.fields:
        params_form.add_error(name, sentence(error.message))
    else:
        add_service_error(form, error)


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


FAMILY_LABELS = {STATIC: "Static", DYNAMIC: "Dynamic", WEIGHTED: "Weighted"}


class PolicyCreateForm(PolicyForm):
    strategy = forms.ChoiceField(
        choices=[("", "Choose a strategy…")]
        + [
            (label, [(key, s.title) for key, s in STRATEGIES.items() if s.family == family])
            for family, label in FAMILY_LABELS.items()
        ],
        help_text="Its parameters appear below once chosen.",
    )

    field_order = ["strategy", "name", "description"]


class ExperimentCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), empty_label="Choose a dataset")
    model = forms.ChoiceField(choices=[(key, spec.title) for key, spec in MODELS.items()], initial="mlp")
    policies = PolicyChoiceField(queryset=SamplingPolicy.objects.none(), widget=forms.CheckboxSelectMultiple)
    budgets = forms.CharField(
        label="Budgets (% of the training set per round)",
        initial="10, 30, 50",
        help_text="Percentages separated by commas, e.g. 5, 10, 30. 100 % is the full training set.",
    )
    seeds = forms.CharField(initial="0, 1, 2", help_text="Whole numbers separated by commas; one run per seed.")
    rounds = forms.IntegerField(
        initial=RECIPE_PARAMS["rounds"].default, help_text=RECIPE_PARAMS["rounds"].help, widget=_number_input("rounds")
    )
    batch_size = forms.IntegerField(
        initial=RECIPE_PARAMS["batch_size"].default,
        help_text=RECIPE_PARAMS["batch_size"].help,
        widget=_number_input("batch_size"),
    )
    lr = forms.FloatField(
        label="Learning rate",
        initial=RECIPE_PARAMS["lr"].default,
        help_text=RECIPE_PARAMS["lr"].help,
        widget=_number_input("lr", step="any"),
    )
    target_accuracy = forms.DecimalField(
        label="Target accuracy (%)",
        required=False,
        max_value=100,
        help_text="Test accuracy that counts as reached for time-to-target; leave empty for none.",
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": "100"}),
    )
    eval_every = forms.IntegerField(
        label="Evaluate every",
        initial=RECIPE_PARAMS["eval_every"].default,
        help_text=RECIPE_PARAMS["eval_every"].help,
        widget=_number_input("eval_every"),
    )
    queue = forms.ChoiceField(choices=Queue.choices, initial=Queue.CPU, widget=forms.RadioSelect)

    def __init__(self, *args: Any, team: Team, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = Dataset.objects.filter(team=team, status=DatasetStatus.READY)
        self.fields["policies"].queryset = SamplingPolicy.objects.filter(Q(team=None) | Q(team=team)).order_by(
            "team_id", "name"
        )

    @property
    def has_team_policies(self) -> bool:
        return self.fields["policies"].queryset.filter(team__isnull=False).exists()

    def clean_budgets(self) -> list[float]:
        return _budget_fractions(self.cleaned_data["budgets"])

    def clean_seeds(self) -> list[int]:
        return _whole_numbers(self.cleaned_data["seeds"])

    def clean_target_accuracy(self) -> float | None:
        target = self.cleaned_data["target_accuracy"]
        if target is None:
            return None
        if target <= 0:
            raise forms.ValidationError("Must be above 0 %.")
        return float(target / 100)

    def service_arguments(self) -> dict[str, Any]:
        return {
            "name": self.cleaned_data["name"],
            "description": self.cleaned_data["description"],
            **self.grid_arguments(),
        }

    def grid_arguments(self) -> dict[str, Any]:
        """The grid the form describes, as ``services.experiment_grid`` takes it (no name, no team)."""
        data = self.cleaned_data
        return {
            "dataset": data["dataset"],
            "model": data["model"],
            "recipe": {name: data[name] for name in ("rounds", "batch_size", "lr", "target_accuracy", "eval_every")},
            "policies": list(data["policies"]),
            "budgets": data["budgets"],
            "seeds": data["seeds"],
            "queue": data["queue"],
        }


def experiment_form_initial(experiment: Experiment) -> dict[str, Any]:
    """An experiment's configuration as the create form's initial values (a clone starts from them)."""
    recipe = experiment.recipe
    target = recipe.get("target_accuracy")
    return {
        "name": f"{experiment.name} (copy)"[:200],
        "description": experiment.description,
        "dataset": experiment.dataset_id,
        "model": experiment.model,
        "policies": list(experiment.policies.values_list("pk", flat=True)),
        "budgets": _percentages(experiment.budgets),
        "seeds": ", ".join(str(seed) for seed in experiment.seeds),
        **{
            name: recipe.get(name, RECIPE_PARAMS[name].default) for name in ("rounds", "batch_size", "lr", "eval_every")
        },
        "target_accuracy": None if target is None else Decimal(str(target)) * 100,
        "queue": experiment.queue,
    }


class ExperimentExtendForm(forms.Form):
    """What to add to an experiment's grid; what it already has is not offered."""

    policies = PolicyChoiceField(
        queryset=SamplingPolicy.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    budgets = forms.CharField(
        label="Add budgets (% of the training set per round)",
        required=False,
        help_text="Percentages separated by commas, e.g. 5, 50.",
    )
    seeds = forms.CharField(label="Add seeds", required=False, help_text="Whole numbers separated by commas.")

    def __init__(self, *args: Any, experiment: Experiment, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.experiment = experiment
        self.fields["policies"].queryset = (
            SamplingPolicy.objects.filter(Q(team=None) | Q(team=experiment.team_id))
            .exclude(experiments=experiment)
            .order_by("team_id", "name")
        )

    def clean_budgets(self) -> list[float]:
        text = self.cleaned_data["budgets"]
        return _budget_fractions(text) if text.strip() else []

    def clean_seeds(self) -> list[int]:
        text = self.cleaned_data["seeds"]
        return _whole_numbers(text) if text.strip() else []

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not (data.get("policies") or data.get("budgets") or data.get("seeds")):
            raise forms.ValidationError("Add at least one policy, budget or seed.")
        return data

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"policies": list(data["policies"]), "budgets": data["budgets"], "seeds": data["seeds"]}
