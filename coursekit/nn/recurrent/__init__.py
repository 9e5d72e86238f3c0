"""Recurrent layers from the equations: RNN, LSTM and GRU cells and multi-layer sequence layers.

Chapter 03 introduces the RNN, chapter 04 the LSTM, chapter 05 the GRU; each has its own module
(the chapter's docstring names where to read on):

- :mod:`.rnn` (chapter 03): ``rnn_step``, ``RNNCell``, ``RNN``
- :mod:`.lstm` (chapter 04): ``lstm_gates``, ``lstm_step``, ``LSTMCell``, ``LSTM``,
  ``trace_lstm_gates``
- :mod:`.lstm_bptt` (chapter 04's appendix): the LSTM's backpropagation through time by hand
- :mod:`.gru` (chapter 05): ``gru_step``, ``GRUCell``, ``GRU``
- :mod:`.base`: what they share (the cell and sequence-layer skeletons, masks, reversal, checks)
- :mod:`.factory`: ``make_recurrent("lstm", ...)``, a layer by name
- :mod:`.seq2seq` (chapter 06): ``RNNSeq2Seq``, a GRU encoder-decoder with or without additive
  attention (and a copy mechanism), for the translation task of :mod:`coursekit.translation`

Every layer has the same parameter names and layout as ``torch.nn.RNN/LSTM/GRU`` (the cells as
``torch.nn.*Cell``), so ``load_state_dict`` works both ways, and takes PyTorch's constructor
arguments in PyTorch's order (``batch_first`` defaults to True here). Every sequence layer runs
either the teaching loop or PyTorch's fused kernel on the same parameters (``layer.fused =
True``). With ``bidirectional=True`` a second loop reads each sequence backwards (an encoder's
usual choice; never for a language model, which must not see the future).

Shapes: B batch, T steps, I input width, H hidden width, L layers, D directions (2 if
bidirectional, else 1), G gates per step (1 for the RNN, 4 for the LSTM, 3 for the GRU). Inputs
are batch-first, ``(B, T, I)``, or time-major ``(T, B, I)`` with ``batch_first=False``.

Speed, with the reasons (``scripts/bench_recurrent.py`` measures it):

- The input projection ``x W_ih^T + b`` does not depend on the state, so it is computed for all T
  steps in one matmul before the loop; the loop then does one ``(B, H) x (H, G*H)`` matmul per step.
- The layers work time-major inside, ``(T, B, ·)``, so each step's slice is contiguous, and the loop
  walks ``xp.unbind(0)``; indexing ``xp[t]`` under autograd would make backward quadratic in T
  (each index's gradient is a full-size zero tensor).
- The LSTM writes backpropagation through time out by hand (:mod:`.lstm_bptt`), as PyTorch's own
  CPU (oneDNN) and GPU (cuDNN) LSTMs do; it halves the LSTM's gap to them. RNN and GRU keep plain
  autograd through the step functions: they are already as fast as PyTorch's kernels.
"""

from coursekit.nn.recurrent.factory import make_recurrent
from coursekit.nn.recurrent.gru import GRU, GRUCell, gru_step
from coursekit.nn.recurrent.lstm import LSTM, LSTMCell, lstm_gates, lstm_step, trace_lstm_gates
from coursekit.nn.recurrent.rnn import RNN, RNNCell, rnn_step
from coursekit.nn.recurrent.seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "RNNSeq2Seq",
    "RNNSeq2SeqConfig",
    "gru_step",
    "lstm_gates",
    "lstm_step",
    "make_recurrent",
    "rnn_step",
    "trace_lstm_gates",
]
