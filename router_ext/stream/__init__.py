"""Where committed events go out live: the in-process bus and the replay-then-live seam."""
