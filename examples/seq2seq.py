"""Train a tiny seq2seq model that reverses digit strings, its decoder started by ``bridge``.

The encoder is a bidirectional GRU in a ``BiRNNEncoder``; the decoder is a unidirectional GRU
whose initial state is ``encoder.bridge(encoded)``: each layer's forward and backward final
states concatenated, so the decoder's hidden size is twice the encoder's. There is no attention:
everything the decoder knows comes through that state. Sources have different lengths and are
passed with their ``lengths``.

Run it (under a minute on a CPU)::

    python examples/seq2seq.py --epochs 12 --seed 0
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

from birnn_utils import BiRNNEncoder, lengths_to_mask

PAD, BOS, EOS = 10, 11, 12  # digits are 0..9
VOCAB = 13
MAX_LEN = 6


def make_batch(gen: torch.Generator, batch_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Digit strings ``B x MAX_LEN`` (``PAD`` after each end), their lengths, and the targets.

    The targets ``B x (MAX_LEN + 1)`` are each string reversed, then ``EOS``, then ``PAD``.
    """
    lengths = torch.randint(1, MAX_LEN + 1, (batch_size,), generator=gen)
    digits = torch.randint(0, 10, (batch_size, MAX_LEN), generator=gen)
    source = digits.masked_fill(~lengths_to_mask(lengths, MAX_LEN), PAD)
    # Reversing step t of row b reads step lengths[b] - 1 - t.
    steps = torch.arange(MAX_LEN + 1)
    read = (lengths.unsqueeze(1) - 1 - steps).clamp(0, MAX_LEN - 1)
    target = digits.gather(1, read)
    target = torch.where(steps < lengths.unsqueeze(1), target, PAD)
    target = target.scatter(1, lengths.unsqueeze(1), EOS)
    return source, lengths, target


class Seq2Seq(nn.Module):
    """Bidirectional GRU encoder, GRU decoder of twice its width started from ``bridge``."""

    def __init__(self, hidden_size: int = 48) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16, padding_idx=PAD)
        self.encoder = BiRNNEncoder(nn.GRU(16, hidden_size, bidirectional=True, batch_first=True))
        self.decoder = nn.GRU(16, 2 * hidden_size, batch_first=True)
        self.project = nn.Linear(2 * hidden_size, VOCAB)

    def forward(self, source: Tensor, lengths: Tensor, decoder_input: Tensor) -> Tensor:
        """Logits ``B x T_out x VOCAB`` for the next token at each decoder step."""
        h_0 = self.encoder.bridge(self.encoder(self.embed(source), lengths))
        output, _ = self.decoder(self.embed(decoder_input), h_0)
        return self.project(output)

    @torch.no_grad()
    def greedy(self, source: Tensor, lengths: Tensor, steps: int) -> Tensor:
        """Decode ``steps`` tokens, each time feeding back the most likely one."""
        state = self.encoder.bridge(self.encoder(self.embed(source), lengths))
        token = torch.full((source.shape[0], 1), BOS)
        tokens = []
        for _ in range(steps):
            output, state = self.decoder(self.embed(token), state)
            token = self.project(output).argmax(-1)
            tokens.append(token)
        return torch.cat(tokens, 1)


def main(
    epochs: int = 12, seed: int = 0, batches_per_epoch: int = 50, batch_size: int = 64
) -> list[float]:
    """Train and return the mean training loss of each epoch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Seq2Seq()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for _ in range(batches_per_epoch):
            source, lengths, target = make_batch(gen, batch_size)
            decoder_input = torch.cat([torch.full_like(target[:, :1], BOS), target[:, :-1]], 1)
            logits = model(source, lengths, decoder_input)
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1), target.flatten(), ignore_index=PAD
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / batches_per_epoch)
        source, lengths, target = make_batch(gen, 256)
        predicted = model.greedy(source, lengths, MAX_LEN + 1)
        exact = ((predicted == target) | (target == PAD)).all(1).float().mean().item()
        print(f"epoch {epoch + 1:2d}  loss {losses[-1]:.4f}  exact reversals {exact:.3f}")
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(epochs=args.epochs, seed=args.seed)
