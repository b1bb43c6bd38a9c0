export type { UsageReceipt, UsageReceiptBody, ReceiptParty, GuardrailDecision } from './receipt-types.js';
