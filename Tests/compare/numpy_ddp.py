"""A NumPy + mpi4py data-parallel trainer of the same tanh RNN as rnn-dist (docs/design.md §2):
the comparison that issue 13 names, in the repository so that it runs in the same session as
`rnn-dist bench` (Tests/compare/run.sh). Written the way a careful NumPy user would: batched
matrices, the input projection as a column gather, the output layer and dW_hh as one matmul
over all T·B rows, one MPI Allreduce of a flat gradient buffer, global-norm clipping and Adam.

    mpirun -np 2 python3 numpy_ddp.py --data tinyshakespeare.txt --hidden 512 --timed 30

Prints one JSON line (rank 0): tokens_per_s, hidden, ranks, seq_len, batch_per_rank, loss.
"""
import argparse
import json
import time

import numpy as np
from mpi4py import MPI


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-per-rank", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timed", type=int, default=30)
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    text = open(args.data, encoding="utf-8").read()
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    tokens = np.array([index[c] for c in text], dtype=np.int64)
    H, V, T, B = args.hidden, len(vocabulary), args.seq_len, args.batch_per_rank

    rng = np.random.default_rng(1)
    bound = 1 / np.sqrt(H)
    sizes = [H * V, H * H, V * H, H, V]
    flat = rng.uniform(-bound, bound, sum(sizes)).astype(np.float32)
    gradient = np.zeros_like(flat)
    offsets = np.cumsum([0] + sizes)
    shapes = [(H, V), (H, H), (V, H), (H,), (V,)]
    W_xh, W_hh, W_hy, b_h, b_y = (flat[offsets[i]:offsets[i + 1]].reshape(shapes[i]) for i in range(5))
    dW_xh, dW_hh, dW_hy, db_h, db_y = (gradient[offsets[i]:offsets[i + 1]].reshape(shapes[i]) for i in range(5))
    m, v = np.zeros_like(flat), np.zeros_like(flat)
    hs = np.zeros((T + 1, B, H), dtype=np.float32)
    starts_rng = np.random.default_rng(100 + rank)
    global_tokens = T * B * size

    def step(t_step):
        starts = starts_rng.integers(0, len(tokens) - T - 1, B)
        window = tokens[starts[:, None] + np.arange(T + 1)]
        x, y = window[:, :T].T, window[:, 1:].T  # [T, B]
        # Forward: a_t = W_xh[:, x_t] + b_h + h_{t-1} W_hh^T.
        W_xhT = W_xh.T
        hs[0] = 0
        for t in range(T):
            hs[t + 1] = np.tanh(W_xhT[x[t]] + b_h + hs[t] @ W_hh.T)
        H_all = hs[1:].reshape(T * B, H)
        logits = H_all @ W_hy.T + b_y
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        rows = np.arange(T * B)
        targets = y.reshape(-1)
        loss = -np.log(p[rows, targets]).sum()
        dy = p
        dy[rows, targets] -= 1
        dy /= global_tokens
        # Backward.
        dW_hy[:] = dy.T @ H_all
        db_y[:] = dy.sum(axis=0)
        dH = (dy @ W_hy).reshape(T, B, H)
        da = np.empty_like(dH)
        carry = np.zeros((B, H), dtype=np.float32)
        for t in range(T - 1, -1, -1):
            dh = dH[t] + carry
            da[t] = dh * (1 - hs[t + 1] ** 2)
            carry = da[t] @ W_hh
        da_all = da.reshape(T * B, H)
        dW_hh[:] = da_all.T @ hs[:T].reshape(T * B, H)
        db_h[:] = da_all.sum(axis=0)
        onehot = np.zeros((T * B, V), dtype=np.float32)
        onehot[rows, x.reshape(-1)] = 1
        dW_xh[:] = da_all.T @ onehot
        # One allreduce, global-norm clipping at 5, Adam (torch's defaults).
        comm.Allreduce(MPI.IN_PLACE, gradient, op=MPI.SUM)
        norm = np.sqrt(np.dot(gradient, gradient))
        if norm > 5:
            np.multiply(gradient, 5 / norm, out=gradient)
        m[:] = 0.9 * m + 0.1 * gradient
        v[:] = 0.999 * v + 0.001 * gradient * gradient
        k = t_step + 1
        flat[:] -= 1e-3 / (1 - 0.9 ** k) * m / (np.sqrt(v) / np.sqrt(1 - 0.999 ** k) + 1e-8)
        return loss

    for s in range(args.warmup):
        step(s)
    comm.Barrier()
    start = time.perf_counter()
    loss = 0.0
    for s in range(args.warmup, args.warmup + args.timed):
        loss = step(s)
    comm.Barrier()
    elapsed = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    if rank == 0:
        print(json.dumps({"tokens_per_s": global_tokens * args.timed / elapsed, "hidden": H, "ranks": size,
                          "seq_len": T, "batch_per_rank": B, "loss": float(loss) / (T * B),
                          "numpy": np.__version__}))


if __name__ == "__main__":
    main()
