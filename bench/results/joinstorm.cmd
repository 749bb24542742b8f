bin/rollcall bench joinstorm --conns 2000 --runs 3 --presence per-event,diffs --comparator bin/centrifuge-bench --pin
