"""The registry: every strategy the product offers, by family, in one place.

A reader finds each method's sampler in the module of its family:
``controls`` (full data and random subsets), ``scores`` (a per-example score
from a proxy model, then a rule over it), ``geometry`` (a search over
embeddings or gradient embeddings), ``gradients`` (subsets whose gradients
match the full data's), with the shared machinery in ``proxy``, ``rules``
and ``greedy``. Samplers are named by path so that reading the registry,
as the web app does, never imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workers.engine.errors import ConfigError
from workers.engine.model_specs import MODELS
from workers.engine.params import Param, resolve
from workers.engine.strategies.base import DYNAMIC, STATIC, WEIGHTED, Paper, Sampler, Strategy

CONTROLS = "workers.engine.strategies.controls"
SCORES = "workers.engine.strategies.scores"
GEOMETRY = "workers.engine.strategies.geometry"
GRADIENTS = "workers.engine.strategies.gradients"
DYNAMIC_MODULE = "workers.engine.strategies.dynamic"
ONLINE = "workers.engine.strategies.online"
REDUCIBLE = "workers.engine.strategies.reducible"
BALANCE = "workers.engine.strategies.balance"

CLASS_BALANCED = Param("class_balanced", "bool", False, "Draw the same share of every class.")

# What each strategy reproduces, as its sampler's docstring cites it (links: arXiv or the proceedings).
RS2_PAPER = Paper(
    "Repeated Random Sampling for Minimizing the Time-to-Accuracy of Learning",
    "Okanovic et al.",
    2024,
    "https://arxiv.org/abs/2305.18424",
)
DATA_DIET_PAPER = Paper(
    "Deep Learning on a Data Diet: Finding Important Examples Early in Training",
    "Paul, Ganguli & Dziugaite",
    2021,
    "https://arxiv.org/abs/2107.07075",
)
SCALING_LAWS_PAPER = Paper(
    "Beyond neural scaling laws: beating power law scaling via data pruning",
    "Sorscher et al.",
    2022,
    "https://arxiv.org/abs/2206.14486",
)
DYNAMIC_PRUNING_PAPER = Paper(
    "Accelerating Deep Learning with Dynamic Data Pruning",
    "Raju, Daruwalla & Lipasti",
    2021,
    "https://arxiv.org/abs/2111.12621",
)


def proxy_params(rounds: int = 10, repeats: int = 1) -> tuple[Param, ...]:
    """The proxy's parameters, with per-strategy defaults (a paper may score at initialisation or late)."""
    return (
        Param(
            "proxy_rounds",
            "int",
            rounds,
            "Rounds the proxy model trains on all the data before scoring (0: score at initialisation).",
            minimum=0,
            maximum=1000,
        ),
        Param(
            "proxy_repeats",
            "int",
            repeats,
            "Proxies trained from different initialisations; their scores are averaged.",
            minimum=1,
            maximum=20,
        ),
        Param(
            "proxy_model",
            "choice",
            None,
            "Architecture of the proxy (default: the run's model).",
            choices=tuple(MODELS),
            nullable=True,
        ),
    )


CONTROL_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "full",
        STATIC,
        "Full data",
        "Train on the whole training set every round; the budget does not apply.",
        uses_budget=False,
        sampler=CONTROLS + ":FullSampler",
    ),
    Strategy(
        "full_short",
        STATIC,
        "Full data, fewer rounds",
        "Train on the whole training set for budget × rounds rounds.",
        sampler=CONTROLS + ":FullShortSampler",
    ),
    Strategy(
        "random_static",
        STATIC,
        "Random static subset",
        "One random subset of r·N examples chosen before training and reused every round.",
        params=(CLASS_BALANCED,),
        sampler=CONTROLS + ":RandomStaticSampler",
        paper=RS2_PAPER,
    ),
    Strategy(
        "rs2_without_replacement",
        DYNAMIC,
        "RS2 without replacement",
        "Walk a shuffled permutation in chunks of r·N; reshuffle when it is exhausted.",
        sampler=CONTROLS + ":RS2WithoutReplacementSampler",
        paper=RS2_PAPER,
    ),
    Strategy(
        "rs2_with_replacement",
        DYNAMIC,
        "RS2 with replacement",
        "A fresh independent random subset of r·N examples every round.",
        params=(CLASS_BALANCED,),
        sampler=CONTROLS + ":RS2WithReplacementSampler",
        paper=RS2_PAPER,
    ),
)

# Score-based methods: a proxy model scores every example, a rule keeps r·N of them.
OFFSET = Param(
    "offset",
    "float",
    0.0,
    "Fraction of the very hardest examples dropped before keeping the hardest.",
    minimum=0.0,
    maximum=0.9,
)
KEEP_END = Param(
    "keep",
    "choice",
    "hard",
    "Keep the examples farthest from their prototype (hard) or nearest to it (easy).",
    choices=("hard", "easy"),
)

SCORE_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "el2n",
        STATIC,
        "EL2N",
        "Keep the examples whose early-training error vector ‖softmax − onehot‖ is largest.",
        params=(*proxy_params(rounds=10, repeats=1), OFFSET, CLASS_BALANCED),
        sampler=SCORES + ":EL2NSampler",
        paper=DATA_DIET_PAPER,
    ),
    Strategy(
        "grand",
        STATIC,
        "GraNd",
        "Keep the examples whose loss-gradient norm, averaged over initialisations, is largest.",
        params=(
            *proxy_params(rounds=0, repeats=3),
            Param(
                "gradient",
                "choice",
                "all",
                "Gradient over all parameters (the paper) or the last layer only (cheaper, as in DeepCore).",
                choices=("all", "last_layer"),
            ),
            OFFSET,
            CLASS_BALANCED,
        ),
        sampler=SCORES + ":GraNdSampler",
        paper=DATA_DIET_PAPER,
    ),
    Strategy(
        "forgetting",
        STATIC,
        "Forgetting events",
        "Keep the examples a proxy forgets most often during training; never-learned ones first.",
        params=(*proxy_params(rounds=10, repeats=1), CLASS_BALANCED),
        sampler=SCORES + ":ForgettingSampler",
        paper=Paper(
            "An Empirical Study of Example Forgetting during Deep Neural Network Learning",
            "Toneva et al.",
            2019,
            "https://arxiv.org/abs/1812.05159",
        ),
    ),
    Strategy(
        "uncertainty",
        STATIC,
        "Uncertainty (selection via proxy)",
        "Keep the examples a proxy is least certain about.",
        params=(
            *proxy_params(rounds=10, repeats=1),
            Param(
                "score",
                "choice",
                "least_confidence",
                "Uncertainty measure of the proxy's predicted distribution.",
                choices=("least_confidence", "entropy", "margin"),
            ),
            CLASS_BALANCED,
        ),
        sampler=SCORES + ":UncertaintySampler",
        paper=Paper(
            "Selection via Proxy: Efficient Data Selection for Deep Learning",
            "Coleman et al.",
            2020,
            "https://arxiv.org/abs/1906.11829",
        ),
    ),
    Strategy(
        "deepfool",
        STATIC,
        "DeepFool margin",
        "Keep the examples whose minimal adversarial perturbation is smallest (closest to the boundary).",
        params=(
            *proxy_params(rounds=10, repeats=1),
            Param(
                "max_iterations",
                "int",
                50,
                "DeepFool steps at most per example.",
                minimum=1,
                maximum=1000,
            ),
            Param(
                "overshoot",
                "float",
                0.02,
                "Relative overshoot of each DeepFool step past the linearised boundary.",
                minimum=0.0,
                maximum=1.0,
            ),
            CLASS_BALANCED,
        ),
        sampler=SCORES + ":DeepFoolSampler",
        paper=Paper(
            "Adversarial Active Learning for Deep Networks: a Margin Based Approach",
            "Ducoffe & Precioso",
            2018,
            "https://arxiv.org/abs/1802.09841",
        ),
    ),
    Strategy(
        "cal",
        STATIC,
        "Contrastive active learning (CAL)",
        "Keep the examples whose predictions differ most from their nearest neighbours' in embedding space.",
        params=(
            *proxy_params(rounds=10, repeats=1),
            Param("neighbors", "int", 10, "Nearest neighbours compared with each example.", minimum=1, maximum=100),
            CLASS_BALANCED,
        ),
        sampler=SCORES + ":CALSampler",
        paper=Paper(
            "Active Learning by Acquiring Contrastive Examples",
            "Margatina et al.",
            2021,
            "https://arxiv.org/abs/2109.03764",
        ),
    ),
    Strategy(
        "supervised_prototypes",
        STATIC,
        "Supervised prototypes",
        "Keep the examples farthest from (or nearest to) their class centroid in embedding space.",
        params=(*proxy_params(rounds=10, repeats=1), KEEP_END, CLASS_BALANCED),
        sampler=SCORES + ":SupervisedPrototypesSampler",
        paper=SCALING_LAWS_PAPER,
    ),
    Strategy(
        "self_supervised_prototypes",
        STATIC,
        "Self-supervised prototypes",
        "Keep the examples farthest from (or nearest to) their k-means centroid in embedding space.",
        params=(
            *proxy_params(rounds=10, repeats=1),
            Param(
                "clusters",
                "int",
                None,
                "k-means centroids (default: the number of classes).",
                minimum=1,
                maximum=10000,
                nullable=True,
            ),
            KEEP_END,
            CLASS_BALANCED,
        ),
        sampler=SCORES + ":SelfSupervisedPrototypesSampler",
        paper=SCALING_LAWS_PAPER,
    ),
    Strategy(
        "moderate",
        STATIC,
        "Moderate coreset",
        "Keep the examples at a moderate distance from their class's median embedding.",
        params=(
            *proxy_params(rounds=10, repeats=1),
            Param("class_balanced", "bool", True, "Take the band within every class, by its share."),
        ),
        sampler=SCORES + ":ModerateSampler",
        paper=Paper(
            "Moderate Coreset: A Universal Method of Data Selection for Real-world Data-efficient Deep Learning",
            "Xia et al.",
            2023,
            "https://openreview.net/forum?id=7D5EECbOaf9",
        ),
    ),
    Strategy(
        "ccs",
        STATIC,
        "Coverage-centric coreset (CCS)",
        "Drop the hardest examples, then sample evenly over strata of a difficulty score.",
        params=(
            *proxy_params(rounds=10, repeats=1),
            Param(
                "score",
                "choice",
                "el2n",
                "Difficulty score the strata are cut over.",
                choices=("el2n", "forgetting"),
            ),
            Param(
                "hard_cutoff",
                "float",
                0.1,
                "Fraction of the hardest examples dropped before stratifying.",
                minimum=0.0,
                maximum=0.9,
            ),
            Param("strata", "int", 50, "Equal-width score bins the budget is spread over.", minimum=1, maximum=1000),
            CLASS_BALANCED,
        ),
        sampler=SCORES + ":CCSSampler",
        paper=Paper(
            "Coverage-centric Coreset Selection for High Pruning Rates",
            "Zheng et al.",
            2023,
            "https://arxiv.org/abs/2210.15809",
        ),
    ),
)

# Geometry and gradients: a search over embeddings or gradient embeddings picks r·N examples.
GEOMETRY_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "kcenter_greedy",
        STATIC,
        "k-center greedy",
        "Farthest-point core-set over a proxy's penultimate embeddings (Sener & Savarese, 2018).",
        params=(CLASS_BALANCED, *proxy_params()),
        sampler=GEOMETRY + ":KCenterGreedySampler",
        paper=Paper(
            "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
            "Sener & Savarese",
            2018,
            "https://arxiv.org/abs/1708.00489",
        ),
    ),
    Strategy(
        "contextual_diversity",
        STATIC,
        "Contextual diversity",
        "k-center greedy under the symmetric KL divergence of a proxy's predictions (Agarwal et al., 2020).",
        params=(
            Param("class_balanced", "bool", True, "Draw the same share of every class (on, as DeepCore)."),
            *proxy_params(),
        ),
        sampler=GEOMETRY + ":ContextualDiversitySampler",
        paper=Paper(
            "Contextual Diversity for Active Learning",
            "Agarwal, Arora, Anand & Arora",
            2020,
            "https://arxiv.org/abs/2008.05723",
        ),
    ),
    Strategy(
        "herding",
        STATIC,
        "Herding",
        "Greedily match the mean of a proxy's embeddings with the chosen subset's (Welling, 2009).",
        params=(CLASS_BALANCED, *proxy_params()),
        sampler=GEOMETRY + ":HerdingSampler",
        paper=Paper("Herding Dynamical Weights to Learn", "Welling", 2009),
    ),
    Strategy(
        "submodular",
        STATIC,
        "Submodular coreset",
        "Greedy facility location, graph cut or log-determinant of gradient embeddings, per class (Iyer et al., 2021).",
        params=(
            Param(
                "function",
                "choice",
                "facility_location",
                "Submodular function maximised over the cosine similarity of last-layer gradients.",
                choices=("facility_location", "graph_cut", "log_determinant"),
            ),
            Param(
                "epsilon",
                "float",
                0.01,
                "Facility location's stochastic greedy ε (0: exact greedy, classes of at most 10,000 examples).",
                minimum=0.0,
                maximum=0.5,
            ),
            Param(
                "lam",
                "float",
                1.0,
                "Graph cut's λ, the weight of coverage against redundancy (monotone from 2).",
                minimum=0.0,
                maximum=100.0,
                exclusive_minimum=True,
            ),
            *proxy_params(),
        ),
        sampler=GEOMETRY + ":SubmodularSampler",
        paper=Paper(
            "Submodular Combinatorial Information Measures with Applications in Machine Learning",
            "Iyer, Khargonkar, Bilmes & Asnani",
            2021,
            "https://arxiv.org/abs/2006.15412",
        ),
    ),
)

# Gradient matching: weighted or validation-driven subsets whose gradients stand in for the full data's.
GRADIENT_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "craig",
        WEIGHTED,
        "CRAIG",
        "Per-class facility location over gradient distances, weighted by cluster sizes (Mirzasoleiman et al., 2020).",
        params=(
            Param(
                "epsilon",
                "float",
                0.01,
                "Stochastic greedy ε of the facility location search (0: exact greedy, classes of at most 10,000).",
                minimum=0.0,
                maximum=0.5,
            ),
            *proxy_params(),
        ),
        sampler=GRADIENTS + ":CraigSampler",
        paper=Paper(
            "Coresets for Data-efficient Training of Machine Learning Models",
            "Mirzasoleiman, Bilmes & Leskovec",
            2020,
            "https://arxiv.org/abs/1906.01827",
        ),
    ),
    Strategy(
        "gradmatch",
        WEIGHTED,
        "GRAD-MATCH",
        "Non-negative OMP: a weighted subset whose gradient sum matches the data's (Killamsetty et al., 2021).",
        params=(
            Param("class_balanced", "bool", True, "Match every class's gradient on its own quota (on, as DeepCore)."),
            Param(
                "lam",
                "float",
                0.5,
                "L2 regulariser of the matching weights.",
                minimum=0.0,
                maximum=100.0,
                exclusive_minimum=True,
            ),
            *proxy_params(),
        ),
        sampler=GRADIENTS + ":GradMatchSampler",
        paper=Paper(
            "GRAD-MATCH: Gradient Matching based Data Subset Selection for Efficient Deep Model Training",
            "Killamsetty, Sivasubramanian, Ramakrishnan, De & Iyer",
            2021,
            "https://arxiv.org/abs/2103.00123",
        ),
    ),
    Strategy(
        "glister",
        STATIC,
        "GLISTER",
        "Greedily raise a held-out validation likelihood after one step on the subset (Killamsetty et al., 2021).",
        params=(
            Param("class_balanced", "bool", True, "Run the greedy per class on its quota (on, as DeepCore)."),
            Param(
                "validation_fraction",
                "float",
                0.1,
                "Share of the training set held out, per class, as the validation set (never selected).",
                minimum=0.0,
                maximum=0.5,
                exclusive_minimum=True,
            ),
            Param(
                "eta",
                "float",
                0.1,
                "Step size of the one-step Taylor approximation (DeepCore: the training learning rate).",
                minimum=0.0,
                maximum=10.0,
                exclusive_minimum=True,
            ),
            Param(
                "epsilon",
                "float",
                0.0,
                "Stochastic greedy ε (0: score every candidate at every step).",
                minimum=0.0,
                maximum=0.5,
            ),
            *proxy_params(),
        ),
        sampler=GRADIENTS + ":GlisterSampler",
        paper=Paper(
            "GLISTER: Generalization based Data Subset Selection for Efficient and Robust Learning",
            "Killamsetty, Sivasubramanian, Ramakrishnan & Iyer",
            2021,
            "https://arxiv.org/abs/2012.10630",
        ),
    ),
)

# Dynamic resampling and pruning: a fresh subset every round from scores or last losses.
ANNEAL = Param(
    "anneal",
    "float",
    0.125,
    "Fraction of the last rounds trained without pruning (the paper's 1 − δ).",
    minimum=0.0,
    maximum=0.9,
)

DYNAMIC_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "score_resampling",
        DYNAMIC,
        "Score resampling",
        "A static score computed once, then a fresh draw of r·N examples every round in proportion to it.",
        params=(
            Param(
                "score",
                "choice",
                "el2n",
                "Static score the draws follow (computed once by that strategy, with this policy's proxy).",
                choices=(
                    "el2n",
                    "grand",
                    "forgetting",
                    "uncertainty",
                    "cal",
                    "supervised_prototypes",
                    "self_supervised_prototypes",
                ),
            ),
            Param(
                "weighting",
                "choice",
                "proportional",
                "Draw in proportion to the score, or to softmax(score / temperature) as the RS2 repository does.",
                choices=("proportional", "softmax"),
            ),
            Param(
                "temperature",
                "float",
                1.0,
                "Softmax temperature (softmax weighting only).",
                minimum=0.0,
                maximum=1000.0,
                exclusive_minimum=True,
            ),
            Param(
                "smoothing",
                "float",
                0.0,
                "Share of the uniform distribution mixed into the draw probabilities.",
                minimum=0.0,
                maximum=1.0,
            ),
            Param("replacement", "bool", False, "Draw with replacement (an example may appear twice in a round)."),
            *proxy_params(rounds=10, repeats=1),
        ),
        sampler=DYNAMIC_MODULE + ":ScoreResamplingSampler",
        paper=RS2_PAPER,
    ),
    Strategy(
        "infobatch",
        WEIGHTED,
        "InfoBatch",
        "Drop examples whose last loss is below the mean with probability p, reweight the rest by 1/(1 − p); "
        "full data in the last rounds (Qin et al., 2024).",
        params=(
            Param(
                "prune_ratio",
                "float",
                None,
                "Probability p of dropping a well-learned example (default: set each round to keep the run on budget).",
                minimum=0.0,
                maximum=0.9,
                nullable=True,
            ),
            ANNEAL,
        ),
        sampler=DYNAMIC_MODULE + ":InfoBatchSampler",
        paper=Paper(
            "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic Data Pruning",
            "Qin et al.",
            2024,
            "https://arxiv.org/abs/2303.04947",
        ),
    ),
    Strategy(
        "seta",
        DYNAMIC,
        "SeTa",
        "Random pruning, k-means clusters of the last losses, and a window sliding from easy to hard clusters "
        "(Zhou et al., 2025).",
        params=(
            Param(
                "prune_ratio",
                "float",
                None,
                "Share of the examples pruned at random each round (default: 1 − budget / window_scale).",
                minimum=0.0,
                maximum=0.99,
                nullable=True,
            ),
            Param("groups", "int", 10, "Loss clusters the examples are grouped into.", minimum=1, maximum=100),
            Param(
                "window_scale",
                "float",
                0.5,
                "Share of the clusters the sliding window covers.",
                minimum=0.0,
                maximum=1.0,
                exclusive_minimum=True,
            ),
            ANNEAL,
        ),
        sampler=DYNAMIC_MODULE + ":SeTaSampler",
        paper=Paper(
            "Scale Efficient Training for Large Datasets",
            "Zhou, Gao & Wang",
            2025,
            "https://arxiv.org/abs/2503.13385",
        ),
    ),
)

# Online selection: the current model scores a candidate pool each round (a forward pass timed as selection).
POOL_FACTOR_HELP = "Candidates scored per round, as a multiple of the r·N kept (at most the whole training set)."
EMA_WEIGHT = Param(
    "ema_weight",
    "float",
    0.5,
    "Weight of an example's newest training loss in its moving mean and variance (1: the last loss only).",
    minimum=0.0,
    maximum=1.0,
    exclusive_minimum=True,
)

ONLINE_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "loss_importance",
        WEIGHTED,
        "Loss importance sampling",
        "Draw r·N of a uniform pool with replacement, p ∝ the gradient-norm bound or the loss of the current "
        "model, weighted 1/(B·p) (Katharopoulos & Fleuret, 2018).",
        params=(
            Param(
                "score",
                "choice",
                "upper_bound",
                "Importance of an example: the bound ‖softmax − onehot‖ on its gradient norm (the paper) or its loss.",
                choices=("upper_bound", "loss"),
            ),
            Param("pool_factor", "float", 5.0, POOL_FACTOR_HELP, minimum=1.0, maximum=100.0),
            Param(
                "smoothing",
                "float",
                0.0,
                "Share of the uniform distribution mixed into the sampling probabilities (0: none, as the paper).",
                minimum=0.0,
                maximum=1.0,
            ),
        ),
        sampler=ONLINE + ":LossImportanceSampler",
        paper=Paper(
            "Not All Samples Are Created Equal: Deep Learning with Importance Sampling",
            "Katharopoulos & Fleuret",
            2018,
            "https://arxiv.org/abs/1803.00942",
        ),
    ),
    Strategy(
        "hard_mining",
        DYNAMIC,
        "Online hard example mining",
        "Keep the r·N highest-loss examples of a uniform pool under the current model (Shrivastava et al., 2016).",
        params=(Param("pool_factor", "float", 10.0, POOL_FACTOR_HELP, minimum=1.0, maximum=100.0),),
        sampler=ONLINE + ":HardMiningSampler",
        paper=Paper(
            "Training Region-based Object Detectors with Online Hard Example Mining",
            "Shrivastava, Gupta & Girshick",
            2016,
            "https://arxiv.org/abs/1604.03540",
        ),
    ),
    Strategy(
        "ucb",
        DYNAMIC,
        "UCB dynamic pruning",
        "Keep the r·N examples of highest moving mean + c · variance of their training loss (Raju et al., 2021).",
        params=(
            Param(
                "confidence",
                "float",
                1.0,
                "Weight c of the loss variance added to the mean loss.",
                minimum=0.0,
                maximum=100.0,
            ),
            EMA_WEIGHT,
        ),
        sampler=ONLINE + ":UCBSampler",
        paper=DYNAMIC_PRUNING_PAPER,
    ),
    Strategy(
        "epsilon_greedy",
        DYNAMIC,
        "ε-greedy dynamic pruning",
        "Keep the (1 − ε)·r·N examples of highest moving mean training loss and ε·r·N others at random "
        "(Raju et al., 2021).",
        params=(
            Param(
                "epsilon",
                "float",
                0.1,
                "Share of each round drawn uniformly from the examples the greedy part left out.",
                minimum=0.0,
                maximum=1.0,
            ),
            EMA_WEIGHT,
        ),
        sampler=ONLINE + ":EpsilonGreedySampler",
        paper=DYNAMIC_PRUNING_PAPER,
    ),
)

# RHO-LOSS: reducible loss against an irreducible-loss model trained on a held-out split.
HOLDOUT_FRACTION = Param(
    "holdout_fraction",
    "float",
    0.1,
    "Share of the training set held out, per class, to train the irreducible-loss model (never selected).",
    minimum=0.0,
    maximum=0.9,
    exclusive_minimum=True,
)
IRREDUCIBLE_ROUNDS = Param(
    "irreducible_rounds",
    "int",
    50,
    "Passes the irreducible-loss model makes over the held-out split (a small split needs many to train).",
    minimum=1,
    maximum=1000,
)
IRREDUCIBLE_MODEL = Param(
    "irreducible_model",
    "choice",
    None,
    "Architecture of the irreducible-loss model (default: the run's model; the paper finds a small one suffices).",
    choices=tuple(MODELS),
    nullable=True,
)
POOL_FACTOR = Param(
    "pool_factor",
    "int",
    10,
    "Candidates scored per selected example (the paper keeps 10 % of each large batch: 10).",
    minimum=1,
    maximum=100,
)

REDUCIBLE_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "rho_loss",
        DYNAMIC,
        "RHO-LOSS",
        "Keep the candidates whose loss minus a held-out model's loss is largest (Mindermann et al., 2022).",
        params=(HOLDOUT_FRACTION, IRREDUCIBLE_ROUNDS, IRREDUCIBLE_MODEL, POOL_FACTOR),
        sampler=REDUCIBLE + ":RhoLossSampler",
        paper=Paper(
            "Prioritized Training on Points that are Learnable, Worth Learning, and Not Yet Learnt",
            "Mindermann et al.",
            2022,
            "https://arxiv.org/abs/2206.07137",
        ),
    ),
)

# Class balance for imbalanced data: temperature sampling with a cooldown.
TEMPERATURE_START = Param(
    "temperature_start",
    "float",
    5.0,
    "Class temperature T of the first round: class c is drawn ∝ n_c^(1/T) (1: natural shares; large: equal).",
    minimum=0.0,
    maximum=1000.0,
    exclusive_minimum=True,
)
TEMPERATURE_END = Param(
    "temperature_end",
    "float",
    1.0,
    "Class temperature T the cooldown ends at (equal to the start: a constant temperature).",
    minimum=0.0,
    maximum=1000.0,
    exclusive_minimum=True,
)
COOLDOWN_FRACTION = Param(
    "cooldown_fraction",
    "float",
    1.0,
    "Share of the run over which T falls linearly from start to end, then held (1: it reaches the end last).",
    minimum=0.0,
    maximum=1.0,
    exclusive_minimum=True,
)
BALANCE_MODE = Param(
    "mode",
    "choice",
    "upsample",
    "Draw rounds with the tempered class shares (upsample), or uniformly with per-class loss weights (upweight).",
    choices=("upsample", "upweight"),
)

BALANCE_STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "class_temperature",
        DYNAMIC,
        "Class temperature sampling (Cooldown)",
        "Draw classes ∝ n_c^(1/T), T cooled from a high to a low value over the run (Li et al., 2025).",
        params=(TEMPERATURE_START, TEMPERATURE_END, COOLDOWN_FRACTION, BALANCE_MODE),
        sampler=BALANCE + ":ClassTemperatureSampler",
        paper=Paper(
            "Upsample or Upweight? Balanced Training on Heavily Imbalanced Datasets",
            "Li, Xu, Tan, Murray & Khashabi",
            2025,
            "https://arxiv.org/abs/2410.04579",
        ),
    ),
)

STRATEGIES: dict[str, Strategy] = {
    strategy.key: strategy
    for family in (
        CONTROL_STRATEGIES,
        SCORE_STRATEGIES,
        GEOMETRY_STRATEGIES,
        GRADIENT_STRATEGIES,
        DYNAMIC_STRATEGIES,
        ONLINE_STRATEGIES,
        REDUCIBLE_STRATEGIES,
        BALANCE_STRATEGIES,
    )
    for strategy in family
}


def get_strategy(key: str, *, field: str = "strategy") -> Strategy:
    if not isinstance(key, str) or key not in STRATEGIES:
        known = ", ".join(sorted(STRATEGIES))
        raise ConfigError(field, f"unknown strategy {key!r}; known strategies: {known}")
    return STRATEGIES[key]


def resolve_strategy_params(key: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a strategy's parameters and fill defaults; errors name ``params.<field>``."""
    return resolve(get_strategy(key).params, params, prefix="params")


def make_sampler(key: str, params: Mapping[str, Any], *, budget: float, labels: np.ndarray) -> Sampler:
    """The sampler of strategy ``key`` for one run over a training set with these ``labels``."""
    strategy = get_strategy(key)
    resolved = resolve_strategy_params(key, params)
    # A strategy the budget does not apply to always runs at r = 1.
    effective_budget = float(budget) if strategy.uses_budget else 1.0
    return strategy.sampler_class()(resolved, num_samples=len(labels), budget=effective_budget, labels=labels)
