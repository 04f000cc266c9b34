"""The naive reference server, as most tutorials write it: FastAPI calling a transformers pipeline per request.

PyTorch in the serving process, one text per request, one forward pass per request. Used only by
``benchmarks/serve.py`` as the baseline. Usage: ``python benchmarks/naive_server.py MODEL_DIR PORT``.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

model_dir, port = sys.argv[1], int(sys.argv[2])
classifier = pipeline("text-classification", model=model_dir, device="cpu")
app = FastAPI()


class Item(BaseModel):
    text: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(item: Item) -> dict[str, object]:
    result = classifier(item.text, truncation=True)[0]
    return {"label": result["label"], "score": result["score"]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
