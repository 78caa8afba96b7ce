"""dancenow offline side: the synthetic actor now; datasets, models and training later."""
