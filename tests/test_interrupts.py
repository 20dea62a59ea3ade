"""Ctrl-C inside a critical section (a checkpoint being written) waits for the section to end."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from test_export import make_export

from etude.export import load_export, save_export
from etude.interrupts import deferred_interrupts
from etude.models import CRePE


def test_interrupt_inside_the_section_is_raised_when_it_ends() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            with deferred_interrupts():  # nested sections are one section
                finished.append('inner')
            finished.append('outer')
    assert finished == ['inner', 'outer']
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_section_without_an_interrupt_changes_nothing() -> None:
    with deferred_interrupts():
        value = 1 + 1
    assert value == 2 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_saving_a_checkpoint_completes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the deferral, torch's zip writer turns this interrupt into a RuntimeError and no file is written."""
    model = CRePE(CRePE.Parameters(depth='small'))
    export = make_export(model, epoch=3)
    original_save = torch.save

    def save_then_interrupt(*arguments: object, **keywords: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of save_export, as a user's Ctrl-C can
        original_save(*arguments, **keywords)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, 'save', save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_export(export, tmp_path / 'last.pt')
    assert load_export(tmp_path / 'last.pt')['run_info']['epoch'] == 3
    assert not list(tmp_path.glob('.*.tmp'))


def test_a_section_that_fails_keeps_its_own_error() -> None:
    """A held Ctrl-C must not hide why the section failed (a full disk, say)."""
    with pytest.raises(OSError, match='No space left'):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            raise OSError(28, 'No space left on device')
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
