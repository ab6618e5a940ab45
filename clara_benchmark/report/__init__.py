"""The static HTML report: run summary, score distributions, top candidates with thumbnails, similarity
labels and the injection–recovery heat map, from the CSVs that score, sim and evaluate write; when the
stars' true classes are known (a simulated sector's truth CSV), how each class fared.

``command`` holds the config and ``build_report``; ``inputs`` finds and checks the files; ``plots`` draws the
figures; ``sections`` and ``html`` write the page.
"""
