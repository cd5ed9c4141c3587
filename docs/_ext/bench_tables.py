"""The ``bench-tables`` directive: the machine and the tables of a
``python -m lrn bench --json`` file, printed as the command prints them, so that
the page shows the file's numbers and cannot drift from them."""
import json

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from lrn.benchmark import format_table


class BenchTables(SphinxDirective):
    required_arguments = 1          # the JSON file, relative to the page

    def run(self):
        rel, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(rel)
        with open(path) as f:
            data = json.load(f)
        m = data["machine"]
        peers = "".join(f", {k} {m[k]}" for k in ("torch", "onnxruntime", "openvino",
                                                   "tensorflow") if k in m)
        machine = (f"Machine: {m['cpu']}, {m['cores']} cores, {m['kernels']} with "
                   f"{m['max_threads']} OpenMP threads; lrn {m['lrn']}, NumPy {m['numpy']}"
                   f"{peers}.")
        blocks = [nodes.paragraph(machine, machine)]
        for res in data["results"]:
            title = (f"{res['shape']} {tuple(res['dims'])} {res['layout']} "
                     f"{data['dtype']} size {data['size']}")
            text = f"{title}\n{format_table(res['rows'])}"
            blocks.append(nodes.literal_block(text, text, language="text"))
        return blocks


def setup(app):
    app.add_directive("bench-tables", BenchTables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
