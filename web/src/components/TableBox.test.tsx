import { fireEvent, render, screen } from "@testing-library/react";
import { vi } from "vitest";
import { csvCell, tableToCsv } from "../lib/csv";
import { TableBox } from "./TableBox";
import { Euro, Price, Time, Who } from "./values";

const A = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";

function Example() {
  return (
    <TableBox label="Trades" file="trades">
      <table>
        <thead>
          <tr>
            <th scope="col">Who</th>
            <th scope="col">When</th>
            <th scope="col">Price</th>
            <th scope="col">Paid</th>
            <th scope="col">Note</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <td>
              <Who address={A} name="Home 01" />
            </td>
            <td>
              <Time s={1_795_702_500} />
            </td>
            <td>
              <Price perKwh={123_400} />
            </td>
            <td>
              <Euro base="371400" />
            </td>
            <td>a, "quoted" note</td>
          </tr>
        </tbody>
      </table>
    </TableBox>
  );
}

it("exports a table's rows as shown, with each raw value and its unit in the header", () => {
  render(<Example />);
  const csv = tableToCsv(screen.getByRole("table"));
  const [head, row] = csv.trim().split("\r\n");
  expect(head).toBe(
    "Who,Who [address],When,When [unix s],Price,Price [FLEX base units per kWh],Paid,Paid [FLEX base units = micro-euros],Note",
  );
  expect(row).toBe(`Home 01,${A},2026-11-26 14:15 UTC,1795702500,12.34 ct/kWh,123400,€ 0.3714,371400,"a, ""quoted"" note"`);
});

it("downloads the CSV from its button", () => {
  const created: Blob[] = [];
  const url = vi.spyOn(URL, "createObjectURL").mockImplementation((b) => {
    created.push(b as Blob);
    return "blob:x";
  });
  const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => undefined);
  render(<Example />);
  fireEvent.click(screen.getByRole("button", { name: "Download Trades as CSV" }));
  expect(created).toHaveLength(1);
  expect(created[0].type).toBe("text/csv;charset=utf-8");
  expect(click).toHaveBeenCalledTimes(1);
  url.mockRestore();
  click.mockRestore();
});

it("quotes only what needs it", () => {
  expect(csvCell("plain")).toBe("plain");
  expect(csvCell("a,b")).toBe('"a,b"');
  expect(csvCell('say "hi"')).toBe('"say ""hi"""');
});

it("shows a name with the address on hover, times with UTC on hover", () => {
  render(
    <p>
      <Who address={A} /> <Who address={A} name="Home 01" /> <Time s={1_795_702_500} />
    </p>,
  );
  expect(screen.getByText("0x9965…A4dc")).toHaveAttribute("title", A);
  expect(screen.getByText("Home 01")).toHaveAttribute("title", A);
  expect(screen.getByText("2026-11-26 14:15 UTC")).toHaveAttribute("title", "2026-11-26 14:15 UTC");
});
