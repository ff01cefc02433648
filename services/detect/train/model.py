"""The plate recogniser's network: a small CRNN (convolutions, a bidirectional LSTM, CTC classes)."""

from __future__ import annotations

import torch
from torch import nn

from services.detect.platerec import CHARSET, INPUT_H, INPUT_W


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class Crnn(nn.Module):
    """``(N, 1, 32, 128)`` grey crops -> ``(N, 32, 37)`` log-probabilities (32 frames, 4 px each).

    The height is reduced to one row by convolutions and pooling; the width keeps 32 frames,
    enough for CTC to emit eight characters with blanks between doubled ones. The LSTM sees the
    whole row, so it can tell a plate's characters from the state name or slogan beside them.
    """

    def __init__(self, hidden: int = 96) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_block(1, 32),
            nn.MaxPool2d(2),  # 16 x 64
            *_block(32, 64),
            nn.MaxPool2d(2),  # 8 x 32
            *_block(64, 96),
            *_block(96, 96),
            nn.MaxPool2d((2, 1)),  # 4 x 32
            *_block(96, 128),
            nn.MaxPool2d((2, 1)),  # 2 x 32
            nn.Conv2d(128, 160, (2, 1), bias=False),  # 1 x 32
            nn.BatchNorm2d(160),
            nn.ReLU(),
        )
        self.rnn = nn.LSTM(160, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, len(CHARSET))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).squeeze(2).permute(0, 2, 1)  # (N, T, C)
        seq, _ = self.rnn(f)
        out: torch.Tensor = self.head(seq).log_softmax(-1)
        return out


class Exported(nn.Module):
    """What goes into the ONNX file: probabilities (softmax), as ``PpOcrRec`` returns them."""

    def __init__(self, net: Crnn) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).exp()


INPUT_SHAPE = (1, INPUT_H, INPUT_W)
