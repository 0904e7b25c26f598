// A table's rows as CSV: the values as shown, plus, for each column whose cells carry a raw
// value (data-raw, components/values.tsx), a column of the raw values with their unit in the
// header ("Price [FLEX base units per kWh]").

export function csvCell(v: string): string {
  return /[",\n\r]/.test(v) || /^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function text(el: Element): string {
  return (el.textContent ?? "").replace(/\s+/g, " ").trim();
}

/** The rows of `table` (its header row, then each body row) as CSV text. */
export function tableToCsv(table: HTMLTableElement): string {
  const headRow = table.tHead?.rows[table.tHead.rows.length - 1];
  const head = headRow ? Array.from(headRow.cells).map(text) : [];
  const body = Array.from(table.tBodies).flatMap((b) => Array.from(b.rows));
  const rows = body.filter((r) => r.cells.length === head.length || head.length === 0);
  const raw = head.map((_, j) => {
    for (const r of rows) {
      const cell = r.cells[j];
      const found = cell?.matches("[data-raw]") ? cell : cell?.querySelector("[data-raw]");
      if (found) return (found as HTMLElement).dataset.unit ?? "raw";
    }
    return null;
  });
  const header: string[] = [];
  head.forEach((h, j) => {
    header.push(h);
    if (raw[j] !== null) header.push(`${h} [${raw[j]}]`);
  });
  const lines = [header.map(csvCell).join(",")];
  for (const r of rows) {
    const out: string[] = [];
    Array.from(r.cells).forEach((cell, j) => {
      out.push(text(cell));
      if (raw[j] !== null) {
        const vals = [cell, ...Array.from(cell.querySelectorAll("[data-raw]"))]
          .filter((e) => (e as HTMLElement).dataset.raw !== undefined)
          .map((e) => (e as HTMLElement).dataset.raw as string);
        out.push(vals.join(" – "));
      }
    });
    lines.push(out.map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** Offer `csv` as a download named `file`. */
export function downloadCsv(file: string, csv: string): void {
  const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = file.endsWith(".csv") ? file : `${file}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
