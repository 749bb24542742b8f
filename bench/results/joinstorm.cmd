bin/rollcall bench joinstorm --conns 2000 --runs 3 --comparator bin/centrifuge-bench --pin
