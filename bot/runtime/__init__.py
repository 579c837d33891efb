"""How the bot process keeps up: answers after their ack (answer_queue), how late the event loop
runs (loop_lag), warming up before ready (warm_up), journaled votes (vote_applier), work off the
event loop (offloop)."""
