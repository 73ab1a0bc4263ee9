"""Train a BiLSTM tagger with ``BiRNNEncoder`` on a task that needs both directions.

Each position of a random symbol string gets one of four tags: whether its symbol also occurs
earlier in the string, and whether it occurs later. The "earlier" half needs the forward
direction, the "later" half the backward one. Strings have different lengths; the encoder takes
a padding mask, and the loss ignores the padding.

Run it (well under a minute on a CPU)::

    python examples/tagger.py --epochs 15 --seed 0
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

from birnn_utils import BiRNNEncoder, lengths_to_mask

VOCAB = 6  # symbols 1..VOCAB; 0 is padding
MAX_LEN = 12
IGNORE = -100


def make_batch(gen: torch.Generator, batch_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Random strings ``B x T``, their padding mask, and their tags (``IGNORE`` at padding)."""
    lengths = torch.randint(1, MAX_LEN + 1, (batch_size,), generator=gen)
    mask = lengths_to_mask(lengths, MAX_LEN)
    symbols = torch.randint(1, VOCAB + 1, (batch_size, MAX_LEN), generator=gen) * mask
    same = symbols.unsqueeze(2) == symbols.unsqueeze(1)  # [b, t, s]: symbol t equals symbol s
    same &= mask.unsqueeze(1)
    steps = torch.arange(MAX_LEN)
    earlier = (same & (steps.view(1, 1, -1) < steps.view(1, -1, 1))).any(2)
    later = (same & (steps.view(1, 1, -1) > steps.view(1, -1, 1))).any(2)
    tags = (2 * earlier + later).masked_fill(~mask, IGNORE)
    return symbols, mask, tags


class Tagger(nn.Module):
    """Embedding, bidirectional LSTM encoder, and a linear layer over the per-step features."""

    def __init__(self, hidden_size: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, 16, padding_idx=0)
        lstm = nn.LSTM(16, hidden_size, bidirectional=True, batch_first=True)
        self.encoder = BiRNNEncoder(lstm)
        self.classify = nn.Linear(self.encoder.output_size, 4)

    def forward(self, symbols: Tensor, mask: Tensor) -> Tensor:
        return self.classify(self.encoder(self.embed(symbols), mask=mask).outputs)


def main(
    epochs: int = 15, seed: int = 0, batches_per_epoch: int = 30, batch_size: int = 32
) -> list[float]:
    """Train and return the mean training loss of each epoch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Tagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for _ in range(batches_per_epoch):
            symbols, mask, tags = make_batch(gen, batch_size)
            logits = model(symbols, mask)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), tags.flatten())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / batches_per_epoch)
        with torch.no_grad():
            symbols, mask, tags = make_batch(gen, 256)
            accuracy = (model(symbols, mask).argmax(-1) == tags)[mask].float().mean().item()
        print(f"epoch {epoch + 1:2d}  loss {losses[-1]:.4f}  tag accuracy {accuracy:.3f}")
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(epochs=args.epochs, seed=args.seed)
