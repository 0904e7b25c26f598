import { fireEvent, screen, waitFor } from "@testing-library/react";
import { ME, renderIn, testConfig } from "../test-utils";
import { LoginPanel, type LoginActions } from "./Login";

const actions = (): LoginActions => ({
  connectInjected: vi.fn(async () => undefined),
  connectDev: vi.fn(async () => undefined),
  login: vi.fn(async () => undefined),
  logout: vi.fn(),
});

it("offers the development wallet, clearly marked, on the local dev chain", () => {
  const a = actions();
  renderIn(<LoginPanel actions={a} />, { cfg: testConfig() });
  expect(screen.getByRole("group", { name: /Development wallet \(local demo chain only; public test keys\)/ })).toBeInTheDocument();
  fireEvent.click(screen.getByRole("button", { name: "Use development wallet" }));
  expect(a.connectDev).toHaveBeenCalledWith("0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc");
});

it("never offers it on another chain or when the API says no", () => {
  renderIn(<LoginPanel actions={actions()} />, { cfg: testConfig({ chain_id: 1 }) });
  expect(screen.queryByText(/Development wallet/)).toBeNull();
  renderIn(<LoginPanel actions={actions()} />, { cfg: testConfig({ dev_wallet: false }) });
  expect(screen.queryAllByText(/Development wallet/)).toHaveLength(0);
});

it("without a browser wallet the connect button says why it is disabled", () => {
  renderIn(<LoginPanel actions={actions()} />, {});
  expect(screen.getByRole("button", { name: "Connect browser wallet" })).toBeDisabled();
});

it("shows the address and role once logged in", () => {
  renderIn(<LoginPanel actions={actions()} />, { me: { ...ME, roles: ["dso"] } });
  expect(screen.getByTestId("role")).toHaveTextContent("DSO (grid operator)");
  expect(screen.getByText("0x9965…A4dc")).toBeInTheDocument();
});

it("shows a failed connection in words", async () => {
  const a = actions();
  a.connectDev = vi.fn(async () => {
    throw new Error("The development wallet is only for the local demo chain.");
  });
  renderIn(<LoginPanel actions={a} />, {});
  fireEvent.click(screen.getByRole("button", { name: "Use development wallet" }));
  await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("The development wallet is only for the local demo chain."));
});
