// Every table of the UI sits in one: a scrolling region (a fallback: tables are laid out to
// fit their panel) with a button that downloads the table's rows as CSV.
import { useRef, type ReactNode } from "react";
import { downloadCsv, tableToCsv } from "../lib/csv";

export function TableBox({ label, file, children }: { label: string; file: string; children: ReactNode }) {
  const box = useRef<HTMLDivElement>(null);
  const save = () => {
    const table = box.current?.querySelector("table");
    if (table) downloadCsv(file, tableToCsv(table));
  };
  return (
    <div className="tablebox">
      <div className="tabletools">
        <button type="button" className="csv" onClick={save} aria-label={`Download ${label} as CSV`} data-testid={`csv-${file}`}>
          CSV
        </button>
      </div>
      <div ref={box} className="scroll" tabIndex={0} role="region" aria-label={`${label} (table)`}>
        {children}
      </div>
    </div>
  );
}
