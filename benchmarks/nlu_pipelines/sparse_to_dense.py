"""Benchmark-only Rasa component: copy sparse sentence features into a dense sentence vector.

Why it exists: in Rasa 3.6 `SklearnIntentClassifier` declares `DenseFeaturizer` as a required
component and only reads *dense* sentence features, so the pipeline
"WhitespaceTokenizer + CountVectorsFeaturizer x2 + SklearnIntentClassifier" is refused at
validation ("The following components require a DenseFeaturizer"). This component turns the
(already computed) CountVectors sentence features into a dense vector, so the SVM is trained on
exactly the same word + char_wb 1-4 n-gram counts as the logistic regression candidate, and no
external model (spaCy, MITIE, a transformer) has to be downloaded.

Referenced from sklearn_svm.yml as
`benchmarks.nlu_pipelines.sparse_to_dense.SparseToDenseFeaturizer`; run rasa from the repo root
so that `benchmarks` is importable (namespace package).
Runs inside .venv-rasa (Python 3.10).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SparseToDenseFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the concatenated sparse TEXT sentence features as a dense sentence feature."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config()}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        pass

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SparseToDenseFeaturizer:
        return cls(config, execution_context.node_name)

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    def _densify(self, message: Message) -> None:
        _, sentence = message.get_sparse_features(TEXT)
        if sentence is None:
            return
        dense = np.asarray(sentence.features.toarray(), dtype=np.float32)
        self.add_features_to_message(None, dense, TEXT, message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._densify(message)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._densify(message)
        return messages
