"""The Rasa engine as Candor runs it: training, supervision, replicas and the engine-side boot."""
