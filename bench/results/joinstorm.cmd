bin/rollcall bench joinstorm --conns 2000 --comparator bin/centrifuge-bench --runs 1 --pin
