"""Camera frames to alerts: latest-frame slot, worker pool analysis, alert raising."""
