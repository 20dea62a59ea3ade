"""Pick the device a run trains on."""

import torch

from .errors import ConfigError

__all__ = ['select_device']


def select_device(requested: str = 'auto') -> torch.device:
    """CUDA, else Apple MPS, else the CPU; or exactly the requested device, checked to exist.

    Asking for a device that is not there is an error rather than a silent fall-back, so a sweep never trains on
    the CPU for hours believing it has a GPU.
    """
    if requested == 'auto':
        if torch.cuda.is_available():
            return torch.device('cuda')
        if torch.backends.mps.is_available():
            return torch.device('mps')
        return torch.device('cpu')
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"Unknown device '{requested}'; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ConfigError(f"Device '{requested}' was requested but CUDA is not available here; use device=cpu or auto")
    if device.type == 'cuda' and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"Device '{requested}' does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == 'mps' and not torch.backends.mps.is_available():
        raise ConfigError(f"Device '{requested}' was requested but Apple MPS is not available here; use device=cpu or auto")
    return device
