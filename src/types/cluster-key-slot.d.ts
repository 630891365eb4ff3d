// The package ships no types. It is the slot function ioredis itself routes Cluster commands by.
declare module "cluster-key-slot" {
  /** The Redis Cluster hash slot (0–16383) of a key: CRC16 of the key, or of its {hash tag}, mod 16384. */
  export default function calculateSlot(key: string | Buffer): number;
}
