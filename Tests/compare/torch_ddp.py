"""PyTorch DistributedDataParallel training the same model as rnn-dist (docs/design.md §2, §2b):
the peer a PyTorch user would write, in the repository so that it runs in the same session and
rounds as `rnn-dist bench` and the NumPy trainer (Tests/compare/run.sh). nn.RNN (tanh), nn.LSTM
or nn.GRU over one-hot characters, nn.Linear to the vocabulary, cross-entropy averaged over the
global batch's tokens, DDP over gloo (its buckets reduce while backward runs), global-norm
clipping at 5 and Adam (lr 1e-3): each rank holds the full model and one shard of the batch,
one thread per rank.

    mpirun -np 2 python3 torch_ddp.py --data tinyshakespeare.txt --hidden 512 --cell rnn --timed 30

The rank and world size come from mpirun's environment (OMPI_COMM_WORLD_*), the rendezvous is
TCP on 127.0.0.1. Prints one JSON line (rank 0): tokens_per_s, hidden, cell, ranks, seq_len,
batch_per_rank, loss.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


class CharModel(nn.Module):
    def __init__(self, cell, vocabulary, hidden):
        super().__init__()
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = layer(vocabulary, hidden, batch_first=False)
        self.fc = nn.Linear(hidden, vocabulary)
        self.vocabulary = vocabulary

    def forward(self, x):  # x [T, B] int64
        out, _ = self.rnn(F.one_hot(x, self.vocabulary).float())
        return self.fc(out)  # [T, B, V]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="rnn")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-per-rank", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timed", type=int, default=30)
    parser.add_argument("--port", type=int, default=29517)
    args = parser.parse_args()

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=size)

    text = open(args.data, encoding="utf-8").read()
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    tokens = torch.tensor([index[c] for c in text], dtype=torch.int64)
    V, T, B = len(vocabulary), args.seq_len, args.batch_per_rank

    torch.manual_seed(1)
    model = nn.parallel.DistributedDataParallel(CharModel(args.cell, V, args.hidden))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    starts_rng = np.random.default_rng(100 + rank)
    global_tokens = T * B * size

    def step():
        starts = torch.from_numpy(starts_rng.integers(0, len(tokens) - T - 1, B))
        window = tokens[starts[:, None] + torch.arange(T + 1)]  # [B, T+1]
        x, y = window[:, :T].t().contiguous(), window[:, 1:].t().contiguous()
        logits = model(x)
        # The sum over this rank's tokens divided by the global count: DDP averages gradients
        # over ranks, so scale by the rank count to get the global mean's gradient exactly.
        loss = F.cross_entropy(logits.reshape(T * B, V), y.reshape(-1), reduction="sum") * size / global_tokens
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return loss.item() / size * global_tokens / (T * B)

    for _ in range(args.warmup):
        step()
    dist.barrier()
    start = time.perf_counter()
    loss = 0.0
    for _ in range(args.timed):
        loss = step()
    dist.barrier()
    elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    if rank == 0:
        print(json.dumps({"tokens_per_s": global_tokens * args.timed / elapsed.item(), "hidden": args.hidden,
                          "cell": args.cell, "ranks": size, "seq_len": T, "batch_per_rank": B, "loss": loss,
                          "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
