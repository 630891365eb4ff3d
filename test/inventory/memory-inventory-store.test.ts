import { MemoryInventoryStore } from "../../src/inventory/memory-inventory-store.js";
import { inventoryStoreContract } from "../support/inventory-store-contract.js";

inventoryStoreContract("memory", () => ({
  open: async (clock, bounds) => new MemoryInventoryStore(clock, bounds),
  elapse: async (clock, ms) => clock.advance(ms),
  close: async () => undefined,
}));
