"""The performers: `PerformanceHAN` (VirtuosoNet's hierarchical attention network, the default) and `PerformanceLSTM`,
with the masked losses and metrics they share (`common`)."""
